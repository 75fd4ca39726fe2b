// Subscription index: a trie over topic levels, '+' and '#' as children. Values are keyed so a
// client's filter can be replaced or removed. Matching follows the $-rule [MQTT-4.7.2-1].

interface Node<T> {
  children: Map<string, Node<T>>;
  values: Map<string, T>;
}

const node = <T>(): Node<T> => ({ children: new Map(), values: new Map() });

export class TopicTrie<T> {
  private readonly root: Node<T> = node();
  /** Values held, under every filter. */
  size = 0;

  add(filter: string, key: string, value: T): void {
    let n = this.root;
    for (const level of filter.split('/')) {
      let child = n.children.get(level);
      if (!child) n.children.set(level, (child = node()));
      n = child;
    }
    if (!n.values.has(key)) this.size++;
    n.values.set(key, value);
  }

  has(filter: string, key: string): boolean {
    let n: Node<T> | undefined = this.root;
    for (const level of filter.split('/')) if (!(n = n.children.get(level))) return false;
    return n.values.has(key);
  }

  remove(filter: string, key: string): boolean {
    const path: Node<T>[] = [this.root];
    const levels = filter.split('/');
    for (const level of levels) {
      const child = path[path.length - 1].children.get(level);
      if (!child) return false;
      path.push(child);
    }
    const removed = path[path.length - 1].values.delete(key);
    if (removed) this.size--;
    for (let i = levels.length; i > 0; i--) {
      const n = path[i];
      if (n.values.size || n.children.size) break;
      path[i - 1].children.delete(levels[i - 1]);
    }
    return removed;
  }

  /** Every value whose filter matches the topic name. */
  match(topic: string): T[] {
    const out: T[] = [];
    const levels = topic.split('/');
    this.walk(this.root, levels, 0, topic.startsWith('$'), out);
    return out;
  }

  private walk(n: Node<T>, levels: string[], i: number, dollar: boolean, out: T[]): void {
    const wildcardsAllowed = !(dollar && i === 0);
    const hash = wildcardsAllowed ? n.children.get('#') : undefined;
    if (hash) for (const v of hash.values.values()) out.push(v);
    if (i === levels.length) {
      for (const v of n.values.values()) out.push(v);
      return;
    }
    const exact = n.children.get(levels[i]);
    if (exact) this.walk(exact, levels, i + 1, dollar, out);
    const plus = wildcardsAllowed ? n.children.get('+') : undefined;
    if (plus) this.walk(plus, levels, i + 1, dollar, out);
  }
}
