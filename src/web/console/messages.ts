// The live message list: newest first, at most maxMessages, each with topic, QoS, retain, time
// and the payload in the chosen view (text, JSON, hex), which can be changed afterwards.
import { showPayload, type PayloadView } from '../shared/payload.ts';
import type { Received } from './session.ts';

const maxMessages = 500;

export class MessageList {
  private readonly items: Array<{ message: Received; pre: HTMLPreElement }> = [];
  private readonly list: HTMLOListElement;
  private readonly count: HTMLElement;
  private view: PayloadView = 'text';

  constructor(list: HTMLOListElement, count: HTMLElement) {
    this.list = list;
    this.count = count;
  }

  add(message: Received): void {
    const li = document.createElement('li');
    li.className = 'message';
    li.dataset.topic = message.topic;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const topic = span('topic', message.topic);
    meta.append(topic, span('badge', `QoS ${message.qos}`));
    if (message.retain) meta.append(span('badge retain', 'retained'));
    meta.append(span('time', message.time.toLocaleTimeString()));
    const pre = document.createElement('pre');
    pre.textContent = showPayload(message.payload, this.view);
    li.append(meta, pre);
    this.list.prepend(li);
    this.items.push({ message, pre });
    if (this.items.length > maxMessages) {
      this.items.shift();
      this.list.lastElementChild?.remove();
    }
    this.count.textContent = String(this.items.length);
  }

  setView(view: PayloadView): void {
    this.view = view;
    for (const { message, pre } of this.items) pre.textContent = showPayload(message.payload, view);
  }

  clear(): void {
    this.items.length = 0;
    this.list.replaceChildren();
    this.count.textContent = '0';
  }
}

function span(className: string, text: string): HTMLSpanElement {
  const s = document.createElement('span');
  s.className = className;
  s.textContent = text;
  return s;
}
