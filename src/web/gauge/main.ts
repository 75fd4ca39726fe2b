// The gauge page: one topic (temp/random unless ?topic= says otherwise) on a dial with a short
// history line. ?min=, ?max=, ?unit=, ?url= and ?v=5 tune it. A broker that refuses anonymous
// clients gets a sign-in form; the credentials stay in this tab (shared/credentials.ts).
import mqtt, { type MqttClient } from 'mqtt';
import { isCredentialRefusal, loadCredentials, saveCredentials } from '../shared/credentials.ts';
import { byId, defaultBrokerUrl, showState } from '../shared/page.ts';
import { arcPath, historyPoints, historyRange, needleAngle, placeOnScale, readingOf, type Reading } from './dial.ts';

const historyLength = 60;
const params = new URLSearchParams(location.search);
const topic = params.get('topic') || 'temp/random';
const scale = { min: Number(params.get('min') ?? -10), max: Number(params.get('max') ?? 40) };
const unit = params.get('unit') ?? '°C';
const brokerUrl = params.get('url') || defaultBrokerUrl();
const version = params.get('v') === '5' ? 5 : 4;
const history: number[] = [];
let firstAt: Date | undefined;
const status = byId('status');
const signIn = byId<HTMLFormElement>('sign-in');
const input = (id: string) => byId<HTMLInputElement>(id);

/** Numbers for labels: at most 6 significant digits, so 0.1 + 0.2 reads 0.3. */
const short = (n: number) => String(Number(n.toPrecision(6)));
const withUnit = (text: string) => (unit ? `${text} ${unit}` : text);

function show(reading: Reading): void {
  const angle = needleAngle(reading.value, scale);
  const place = placeOnScale(reading.value, scale);
  const dial = byId('dial');
  dial.dataset.state = 'live';
  dial.dataset.place = place;
  byId('needle').setAttribute('transform', `rotate(${angle.toFixed(1)} 100 100)`);
  byId('arc').setAttribute('d', arcPath(angle));
  byId('value').textContent = reading.text;
  const note = byId('range-note');
  note.hidden = place === 'within';
  note.textContent = place === 'below' ? `below the scale (min ${withUnit(short(scale.min))})` : `above the scale (max ${withUnit(short(scale.max))})`;
  history.push(reading.value);
  if (history.length > historyLength) history.shift();
  firstAt ??= new Date();
  showHistory();
  byId('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function showHistory(): void {
  byId('line').setAttribute('points', historyPoints(history));
  const range = historyRange(history)!;
  byId('hist-hi').textContent = withUnit(short(range.hi));
  byId('hist-lo').textContent = range.hi === range.lo ? '' : withUnit(short(range.lo));
  const n = history.length;
  byId('hist-caption').textContent = `last ${n} value${n === 1 ? '' : 's'}${n < historyLength ? ` since ${firstAt!.toLocaleTimeString()}` : ''}, scaled to their own range`;
}

function showHint(): void {
  const address = new URLSearchParams({ topic, min: short(scale.min), max: short(scale.max), unit });
  if (params.get('url')) address.set('url', brokerUrl);
  if (version === 5) address.set('v', '5');
  const code = document.createElement('code');
  code.textContent = `/gauge?${decodeURIComponent(address.toString())}`;
  byId('hint').replaceChildren(`${topic} from ${brokerUrl}, MQTT ${version === 5 ? '5' : '3.1.1'}. Topic, scale and unit come from the address: `, code);
}

function askForCredentials(why: string): void {
  byId('sign-in-why').textContent = why;
  input('username').value = loadCredentials(brokerUrl)?.username ?? '';
  signIn.hidden = false;
  input('username').focus();
}

let client: MqttClient | undefined;

function connect(): void {
  client?.end(true);
  const saved = loadCredentials(brokerUrl);
  const c = (client = mqtt.connect(brokerUrl, {
    clientId: `gauge-${Math.random().toString(16).slice(2, 8)}`, protocolVersion: version,
    username: saved?.username || undefined, password: saved?.password || undefined,
    reconnectPeriod: 2_000, connectTimeout: 10_000,
  }));
  let attempts = 0;
  showState(status, 'connecting');
  c.on('connect', () => {
    attempts = 0;
    showState(status, 'connected', saved?.username ? `as ${saved.username}` : '');
    c.subscribe(topic, { qos: 0 }, (err, granted) => {
      const code = granted?.[0]?.qos ?? 0;
      if (err || code >= 0x80) showState(status, 'error', `subscription to ${topic} refused`);
    });
  });
  c.on('reconnect', () => showState(status, 'reconnecting', `attempt ${++attempts}`));
  c.on('offline', () => showState(status, 'offline'));
  c.on('error', (err: Error & { code?: unknown }) => {
    if (!isCredentialRefusal(err.code)) return showState(status, 'error', err.message);
    c.end(true);
    showState(status, 'error', saved ? 'sign-in refused' : 'sign-in needed');
    askForCredentials(saved ? `The broker refused ${saved.username || 'these credentials'} (${err.message}). Try again.` : `The broker does not accept anonymous clients (${err.message}). Sign in:`);
  });
  c.on('message', (_topic, payload) => {
    const reading = readingOf(new TextDecoder().decode(payload));
    if (reading === undefined) byId('updated').textContent = 'the last message was not a number';
    else show(reading);
  });
}

signIn.addEventListener('submit', (e) => {
  e.preventDefault();
  saveCredentials(brokerUrl, { username: input('username').value, password: input('password').value });
  input('password').value = '';
  signIn.hidden = true;
  connect();
});
byId('sign-in-toggle').addEventListener('click', () => (signIn.hidden ? askForCredentials('Sign in to the broker.') : (signIn.hidden = true)));

document.title = `${topic} · gauge`;
byId('gauge-title').textContent = topic;
byId('unit').textContent = unit;
byId('min').textContent = short(scale.min);
byId('max').textContent = short(scale.max);
byId('updated').textContent = `waiting for a message on ${topic}`;
showHint();
connect();
