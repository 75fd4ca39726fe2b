// One message in full: topic, payload in the chosen view, QoS, retain, DUP, size, time, and every
// MQTT 5 property it carried [MQTT-3.3.2.3], correlation data as hex.
import { showPayload, type PayloadView } from '../shared/payload.ts';
import { byId } from '../shared/page.ts';
import { clock, el, topicText } from './dom.ts';
import type { Received } from './session.ts';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

function properties(p: Received['properties']): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  if (p.payloadFormatIndicator !== undefined) rows.push(['Payload format', p.payloadFormatIndicator ? '1 (UTF-8 text)' : '0 (bytes)']);
  if (p.contentType !== undefined) rows.push(['Content type', p.contentType]);
  if (p.messageExpiryInterval !== undefined) rows.push(['Message expiry', `${p.messageExpiryInterval} s left when sent`]);
  if (p.responseTopic !== undefined) rows.push(['Response topic', p.responseTopic]);
  if (p.correlationData !== undefined) rows.push(['Correlation data', hex(new Uint8Array(p.correlationData))]);
  if (p.subscriptionIdentifier !== undefined) rows.push(['Subscription identifier', [p.subscriptionIdentifier].flat().join(', ')]);
  if (p.topicAlias !== undefined) rows.push(['Topic alias', String(p.topicAlias)]);
  for (const [name, value] of Object.entries(p.userProperties ?? {})) {
    for (const v of [value].flat()) rows.push([`User property ${name}`, String(v)]);
  }
  return rows;
}

function fill(list: HTMLElement, rows: Array<[string, string]>): void {
  list.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', '', k), el('dd', '', v)]));
}

export class Detail {
  message?: Received;
  private readonly pane = byId('detail');

  show(m: Received, view: PayloadView, subscription?: string): void {
    this.message = m;
    byId('detail-topic').replaceChildren(topicText(m.topic));
    fill(byId('detail-meta'), [
      ['QoS', String(m.qos)], ['Retained', m.retain ? 'yes (sent from the broker\'s store)' : 'no'], ['DUP', m.dup ? 'yes' : 'no'],
      ['Size', `${m.payload.length} byte${m.payload.length === 1 ? '' : 's'}`], ['Received', clock(m.time)],
      ...(subscription ? [['Subscription', subscription] as [string, string]] : []),
    ]);
    byId('detail-payload').textContent = showPayload(m.payload, view);
    const props = properties(m.properties);
    fill(byId('detail-props'), props.length ? props : [['', 'none']]);
    this.pane.hidden = false;
    document.body.dataset.detail = 'open';
  }

  setView(view: PayloadView): void {
    if (this.message) byId('detail-payload').textContent = showPayload(this.message.payload, view);
  }

  close(): void {
    this.message = undefined;
    this.pane.hidden = true;
    delete document.body.dataset.detail;
  }
}
