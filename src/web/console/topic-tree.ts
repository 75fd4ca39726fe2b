// The topics seen so far as a tree of levels, each with its message count and last payload;
// picking a node shows only the messages at or below it. Drawn at most once a frame.
import { el } from './dom.ts';

interface Node {
  children: Map<string, Node>;
  count: number;
  last?: string;
}

const maxDrawn = 400;

export class TopicTree {
  private readonly root: Node = { children: new Map(), count: 0 };
  private readonly closed = new Set<string>();
  private selected: string | null = null;
  private topics = 0;
  private drawing = false;
  onPick: (topic: string | null) => void = () => {};

  private readonly list: HTMLElement;
  private readonly total: HTMLElement;
  private readonly empty: HTMLElement;

  constructor(list: HTMLElement, total: HTMLElement, empty: HTMLElement) {
    [this.list, this.total, this.empty] = [list, total, empty];
  }

  add(topic: string, payload: string): void {
    let node = this.root;
    for (const level of topic.split('/')) {
      let next = node.children.get(level);
      if (!next) node.children.set(level, (next = { children: new Map(), count: 0 }));
      next.count++;
      node = next;
    }
    if (node.last === undefined) this.topics++;
    node.last = payload.slice(0, 60);
    if (!this.drawing) {
      this.drawing = true;
      requestAnimationFrame(() => this.draw());
    }
  }

  clear(): void {
    this.root.children.clear();
    this.topics = 0;
    this.pick(null);
    this.draw();
  }

  pick(path: string | null): void {
    this.selected = path;
    this.onPick(path);
    this.draw();
  }

  private draw(): void {
    this.drawing = false;
    let budget = maxDrawn;
    const branch = (node: Node, prefix: string | undefined): HTMLElement[] => [...node.children].sort(([a], [b]) => a.localeCompare(b)).flatMap(([name, child]) => {
      if (budget-- <= 0) return [];
      const path = prefix === undefined ? name : `${prefix}/${name}`;
      const li = el('li');
      li.setAttribute('role', 'treeitem');
      const line = el('div', 'node');
      if (child.children.size) {
        const toggle = el('button', 'toggle', this.closed.has(path) ? '▸' : '▾');
        toggle.type = 'button';
        toggle.setAttribute('aria-label', `${this.closed.has(path) ? 'Open' : 'Close'} ${path}`);
        toggle.addEventListener('click', () => (this.closed.has(path) ? this.closed.delete(path) : this.closed.add(path), this.draw()));
        line.append(toggle);
      } else line.append(el('span', 'toggle'));
      const pick = el('button', 'name', name || '(empty)');
      pick.type = 'button';
      pick.title = `Show only ${path} and below`;
      if (path === this.selected) pick.setAttribute('aria-pressed', 'true');
      pick.addEventListener('click', () => this.pick(path === this.selected ? null : path));
      line.append(pick, el('span', 'count', String(child.count)));
      if (child.last !== undefined) line.append(el('span', 'last', child.last));
      li.append(line);
      if (child.children.size && !this.closed.has(path)) {
        const ul = el('ul');
        ul.setAttribute('role', 'group');
        ul.append(...branch(child, path));
        li.append(ul);
      }
      return [li];
    });
    this.list.replaceChildren(...branch(this.root, undefined));
    this.total.textContent = this.topics ? String(this.topics) : '';
    this.empty.hidden = this.topics > 0;
  }
}
