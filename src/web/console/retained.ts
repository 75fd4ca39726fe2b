// The retained browser: a short second connection subscribes to the filter and gathers the
// messages the broker sends flagged retained [MQTT-3.3.1-8], until it goes quiet. Works with the
// console's own MQTT credentials only; no admin token needed.
import mqtt from 'mqtt';
import { showPayload, type PayloadView } from '../shared/payload.ts';
import { el, topicText } from './dom.ts';
import { clientOptions, type ConnectForm } from './session.ts';

export interface RetainedItem {
  topic: string;
  payload: Uint8Array;
}

/** Gathers until nothing arrives for quietMs after the SUBACK, maxMs at most. */
export async function browseRetained(form: ConnectForm, filter: string, quietMs = 700, maxMs = 5_000): Promise<RetainedItem[]> {
  const suffix = Math.random().toString(16).slice(2, 8);
  const client = await mqtt.connectAsync(form.url, clientOptions(form, { clientId: `${form.clientId}-browse-${suffix}`, clean: true, reconnectPeriod: 0 }));
  const found = new Map<string, RetainedItem>();
  let last = Date.now();
  client.on('message', (topic, payload, packet) => {
    if (!packet.retain) return;
    found.set(topic, { topic, payload: new Uint8Array(payload) });
    last = Date.now();
  });
  try {
    await client.subscribeAsync(filter, { qos: 0 });
    const until = Date.now() + maxMs;
    last = Date.now();
    while (Date.now() - last < quietMs && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  } finally {
    await client.endAsync();
  }
  return [...found.values()].sort((a, b) => (a.topic < b.topic ? -1 : 1));
}

/** One card per topic: the topic (wrapping between levels), the payload, and a Clear button. */
export function renderRetained(list: HTMLElement, items: RetainedItem[], view: PayloadView, clear: (topic: string) => void): void {
  list.replaceChildren(...items.map((item) => {
    const row = el('li', 'retained-item');
    row.dataset.topic = item.topic;
    const button = el('button', 'secondary', 'Clear');
    button.type = 'button';
    button.title = 'Publish an empty retained message to this topic';
    button.addEventListener('click', () => clear(item.topic));
    const head = el('div', 'meta');
    head.append(topicText(item.topic), button);
    row.append(head, el('pre', 'preview', showPayload(item.payload, view)));
    return row;
  }));
}
