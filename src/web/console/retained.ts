// The retained browser: a short second connection subscribes to the filter and gathers the
// messages the broker sends flagged retained [MQTT-3.3.1-8], until it goes quiet. Works with the
// console's own MQTT credentials only; no admin token needed.
import mqtt from 'mqtt';
import { showPayload, type PayloadView } from '../shared/payload.ts';
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

export function renderRetained(body: HTMLTableSectionElement, items: RetainedItem[], view: PayloadView, clear: (topic: string) => void): void {
  body.replaceChildren(...items.map((item) => {
    const row = document.createElement('tr');
    row.dataset.topic = item.topic;
    const topic = document.createElement('td');
    topic.textContent = item.topic;
    const payload = document.createElement('td');
    const pre = document.createElement('pre');
    pre.textContent = showPayload(item.payload, view);
    payload.append(pre);
    const action = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary';
    button.textContent = 'Clear';
    button.title = 'Publish an empty retained message to this topic';
    button.addEventListener('click', () => clear(item.topic));
    action.append(button);
    row.append(topic, payload, action);
    return row;
  }));
}
