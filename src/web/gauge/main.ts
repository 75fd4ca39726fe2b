// The gauge page: one topic (temp/random unless ?topic= says otherwise) on a dial with a short
// history line. ?min=, ?max=, ?unit=, ?url= and ?v=5 tune it.
import mqtt from 'mqtt';
import { byId, defaultBrokerUrl, showState } from '../shared/page.ts';
import { arcPath, historyPoints, needleAngle, readingOf } from './dial.ts';

const historyLength = 60;
const params = new URLSearchParams(location.search);
const topic = params.get('topic') || 'temp/random';
const scale = { min: Number(params.get('min') ?? -10), max: Number(params.get('max') ?? 40) };
const unit = params.get('unit') ?? '°C';
const history: number[] = [];
const status = byId('status');

function show(value: number): void {
  const angle = needleAngle(value, scale);
  byId('needle').setAttribute('transform', `rotate(${angle.toFixed(1)} 100 100)`);
  byId('arc').setAttribute('d', arcPath(angle));
  byId('value').textContent = String(value);
  history.push(value);
  if (history.length > historyLength) history.shift();
  byId('line').setAttribute('points', historyPoints(history));
  byId('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

document.title = `${topic} · gauge`;
byId('gauge-title').textContent = topic;
byId('unit').textContent = unit;
byId('min').textContent = String(scale.min);
byId('max').textContent = String(scale.max);

const client = mqtt.connect(params.get('url') || defaultBrokerUrl(), {
  clientId: `gauge-${Math.random().toString(16).slice(2, 8)}`, protocolVersion: params.get('v') === '5' ? 5 : 4,
  reconnectPeriod: 2_000, connectTimeout: 10_000,
});
client.on('connect', () => {
  showState(status, 'connected');
  client.subscribe(topic, { qos: 0 });
});
client.on('reconnect', () => showState(status, 'reconnecting'));
client.on('offline', () => showState(status, 'offline'));
client.on('error', (err) => showState(status, 'error', err.message));
client.on('message', (_topic, payload) => {
  const value = readingOf(new TextDecoder().decode(payload));
  if (value === undefined) byId('updated').textContent = 'the last message was not a number';
  else show(value);
});
showState(status, 'connecting');
