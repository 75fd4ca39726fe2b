// The live message list: newest first, at most maxMessages, one compact row each (subscription
// colour, topic, a one-line payload, QoS, retained, time). Rows can be narrowed to a topic subtree
// and a search text; a click selects a message for the detail pane.
import { showPayload, type PayloadView } from '../shared/payload.ts';
import { clock, el, topicText } from './dom.ts';
import type { Received } from './session.ts';

const maxMessages = 1000;

export interface Row {
  message: Received;
  colour?: number;
  li: HTMLLIElement;
}

export class MessageList {
  private readonly rows: Row[] = [];
  private view: PayloadView = 'text';
  private search = '';
  private under?: string;
  paused = false;
  onSelect: (row: Row) => void = () => {};

  private readonly list: HTMLElement;
  private readonly count: HTMLElement;
  private readonly empty: HTMLElement;

  constructor(list: HTMLElement, count: HTMLElement, empty: HTMLElement) {
    [this.list, this.count, this.empty] = [list, count, empty];
  }

  add(message: Received, colour?: number): void {
    if (this.paused) return;
    const li = el('li', 'message');
    li.tabIndex = 0;
    li.dataset.topic = message.topic;
    if (colour !== undefined) li.style.setProperty('--sub', `var(--sub-${colour})`);
    const meta = el('div', 'meta');
    meta.append(topicText(message.topic), el('span', 'badge', `QoS ${message.qos}`));
    if (message.retain) meta.append(el('span', 'badge retain', 'retained'));
    meta.append(el('time', 'time', clock(message.time)));
    const row: Row = { message, colour, li };
    li.append(meta, el('pre', 'preview', this.preview(message)));
    li.addEventListener('click', () => this.select(row));
    li.addEventListener('keydown', (e) => e.key === 'Enter' && this.select(row));
    this.list.prepend(li);
    this.rows.push(row);
    if (this.rows.length > maxMessages) this.rows.shift()!.li.remove();
    li.hidden = !this.shows(message);
    this.counted();
  }

  setView(view: PayloadView): void {
    this.view = view;
    for (const r of this.rows) r.li.querySelector('pre')!.textContent = this.preview(r.message);
  }

  /** Only messages whose topic is `topic` or below it, and whose topic or payload holds `search`. */
  narrow(options: { topic?: string | null; search?: string }): void {
    if (options.topic !== undefined) this.under = options.topic ?? undefined;
    if (options.search !== undefined) this.search = options.search.toLowerCase();
    for (const r of this.rows) r.li.hidden = !this.shows(r.message);
    this.counted();
  }

  clear(): void {
    this.rows.length = 0;
    this.list.replaceChildren();
    this.counted();
  }

  private select(row: Row): void {
    this.list.querySelector('[aria-selected="true"]')?.removeAttribute('aria-selected');
    row.li.setAttribute('aria-selected', 'true');
    this.onSelect(row);
  }

  private shows(m: Received): boolean {
    if (this.under !== undefined && m.topic !== this.under && !m.topic.startsWith(`${this.under}/`)) return false;
    if (!this.search) return true;
    return m.topic.toLowerCase().includes(this.search) || new TextDecoder().decode(m.payload).toLowerCase().includes(this.search);
  }

  private preview(m: Received): string {
    const text = showPayload(m.payload, this.view);
    return this.view === 'json' ? text : text.split('\n', 1)[0].slice(0, 300);
  }

  private counted(): void {
    const shown = this.rows.filter((r) => !r.li.hidden).length;
    this.count.textContent = shown === this.rows.length ? String(shown) : `${shown} of ${this.rows.length}`;
    this.empty.hidden = this.rows.length > 0;
  }
}
