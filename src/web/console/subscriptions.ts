// The console's subscriptions: each with a colour that marks its messages, a count, and its
// unsubscribe button. A v5 message names its subscription by identifier [MQTT-3.3.4-3]; before v5
// the first subscription whose filter matches the topic is taken.
import { matches } from '../../broker/topic-match.ts';
import { el } from './dom.ts';

export interface Subscription {
  filter: string;
  qos: number;
  id?: number;
  colour: number;
  count: number;
  row: HTMLLIElement;
}

/** Eight colours (style.css --sub-0 … --sub-7), reused in turn. */
const colours = 8;

/** `$share/group/a/b` matches as `a/b` [MQTT-4.8.2]. */
const plainFilter = (filter: string) => (filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter);

export class Subscriptions {
  readonly all: Subscription[] = [];
  private used = 0;

  private readonly list: HTMLElement;
  private readonly remove: (s: Subscription) => void;

  constructor(list: HTMLElement, remove: (s: Subscription) => void) {
    [this.list, this.remove] = [list, remove];
  }

  add(filter: string, qos: number, id?: number): Subscription {
    this.drop(filter);
    const row = el('li');
    const s: Subscription = { filter, qos, id, colour: this.used++ % colours, count: 0, row };
    row.dataset.filter = filter;
    row.style.setProperty('--sub', `var(--sub-${s.colour})`);
    const button = el('button', 'icon', '×');
    button.type = 'button';
    button.title = `Unsubscribe from ${filter}`;
    button.addEventListener('click', () => this.remove(s));
    row.append(el('span', 'swatch'), el('span', 'filter', filter), el('span', 'badge', `QoS ${qos}`), el('span', 'count', '0'), button);
    this.list.append(row);
    this.all.push(s);
    return s;
  }

  drop(filter: string): void {
    const i = this.all.findIndex((s) => s.filter === filter);
    if (i < 0) return;
    this.all[i].row.remove();
    this.all.splice(i, 1);
  }

  clear(): void {
    for (const s of this.all.splice(0)) s.row.remove();
  }

  /** The subscription a message came through, counted. */
  of(topic: string, ids: number | number[] | undefined): Subscription | undefined {
    const wanted = ids === undefined ? [] : [ids].flat();
    const s = this.all.find((x) => x.id !== undefined && wanted.includes(x.id)) ?? this.all.find((x) => matches(plainFilter(x.filter), topic));
    if (s) s.row.querySelector('.count')!.textContent = String(++s.count);
    return s;
  }
}
