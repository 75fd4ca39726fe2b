// npm run bench: what the tunnel costs. The broker on workerd is the edge; the client is the same
// MQTT code both ways (the agent's own Client, over TCP through `device-agent tunnel` or over a
// WebSocket straight to the edge), so the difference is the agent. MQTT.js drives the memory run. Prints one table: round-trip latency, QoS 1 throughput, and the
// agent's RSS with 50 tunneled clients (Node 22 and the oldest supported Node, with the contrib unit's V8 flags).
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import lib from '../dist/index.js';
import { bin } from '../test/helpers/agent.mjs';
import { startEdge } from '../test/helpers/edge.mjs';
import { freePort, sleep, start } from '../test/helpers/procs.mjs';
import { nodes, v8Flags } from './nodes.mjs';

const rounds = Number(process.env.BENCH_ROUNDS ?? 1000);
const burst = Number(process.env.BENCH_BURST ?? 5000);
const window = 16;

const connect = (url) => mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, clientId: `bench-${Math.random().toString(36).slice(2, 10)}` });
const log = lib.createLogger({ level: 'error', write: (l) => process.stderr.write(l) });

/** The agent's own client: same MQTT code whichever transport the URL names. */
async function client(url) {
  const c = new lib.Client({
    endpoint: lib.parseEndpoint(url), log, inflight: 64,
    connect: { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: `bench-${Math.random().toString(36).slice(2, 10)}` },
  });
  await c.connect();
  return c;
}

const subscribe = (c, topic, qos) => c.request({ type: 'subscribe', subscriptions: [{ topicFilter: topic, qos }] });
const utf8 = new TextEncoder();
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

/** Publish, wait for our own message back, repeat: one round trip at a time. */
async function latency(url, topic) {
  const c = await client(url);
  await subscribe(c, topic, 0);
  const times = [];
  let resolve;
  c.onMessage = () => resolve();
  const payload = utf8.encode('x');
  for (let i = 0; i < rounds + 50; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise((r) => {
      resolve = r;
      void c.publish({ topic, payload, qos: 0, retain: false });
    });
    if (i >= 50) times.push(Number(process.hrtime.bigint() - t0) / 1e6); // the first 50 warm up
  }
  c.stop();
  times.sort((a, b) => a - b);
  return { p50: pct(times, 50), p99: pct(times, 99) };
}

/** `burst` QoS 1 messages, at most `window` unacknowledged (the broker bounds a subscriber's queue); time until the subscriber has them all. */
async function throughput(url, topic) {
  const [p, s] = await Promise.all([client(url), client(url)]);
  await subscribe(s, topic, 1);
  let got = 0;
  const done = new Promise((r) => (s.onMessage = () => ++got === burst && r()));
  const t0 = process.hrtime.bigint();
  const inflight = new Set();
  for (let i = 0; i < burst; i++) {
    if (inflight.size >= window) await Promise.race(inflight);
    const sent = p.publish({ topic, payload: utf8.encode(`m${i}`), qos: 1, retain: false }).then(() => inflight.delete(sent));
    inflight.add(sent);
  }
  await Promise.race([done, sleep(120_000).then(() => { throw new Error(`only ${got} of ${burst} in 120 s`); })]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await Promise.all(inflight);
  p.stop();
  s.stop();
  return burst / seconds;
}

function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)[1]);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function tunnel(node, edgeUrl, flags) {
  const port = await freePort();
  const agent = start(node, [...flags, bin, 'tunnel', '-L', edgeUrl, '--listen', `127.0.0.1:${port}`, '--quiet']);
  await sleep(200);
  for (let i = 0; i < 100 && !(await reachable(port)); i++) await sleep(50);
  return { agent, url: `mqtt://127.0.0.1:${port}` };
}

async function reachable(port) {
  const { connect: tcp } = await import('node:net');
  return new Promise((r) => {
    const s = tcp(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });
}

/** 50 tunneled clients, each subscribed and exchanging a message, then the agent's memory. */
async function memory(node, edgeUrl, flags) {
  const { agent, url } = await tunnel(node, edgeUrl, flags);
  const idle = rss(agent.child.pid);
  const clients = [];
  for (let i = 0; i < 50; i++) clients.push(await connect(url));
  await Promise.all(clients.map((c, i) => c.subscribeAsync(`mem/${i}`, { qos: 1 })));
  for (let round = 0; round < 5; round++) await Promise.all(clients.map((c, i) => c.publishAsync(`mem/${(i + 1) % 50}`, 'y'.repeat(100), { qos: 1 })));
  await sleep(1000);
  const loaded = rss(agent.child.pid);
  await Promise.all(clients.map((c) => c.endAsync()));
  await agent.stop();
  return { idle: idle.rss, loaded: loaded.rss, peak: loaded.peak };
}

/** RSS of the same Node doing nothing: the floor under any agent written for it. */
async function bare(node, flags) {
  const p = start(node, [...flags, '-e', 'setInterval(() => {}, 1000)']);
  await sleep(500);
  const r = rss(p.child.pid).rss;
  await p.stop();
  return r;
}

const f = (n, d = 2) => n.toFixed(d);
const edge = await startEdge();
try {
  const rows = [];
  const direct = { lat: await latency(`${edge.url}/bench-direct`, 'lat'), tput: await throughput(`${edge.url}/bench-direct`, 'tput') };
  const t = await tunnel(nodes['Node 22'], `${edge.url}/bench-tunnel`, v8Flags);
  const via = { lat: await latency(t.url, 'lat'), tput: await throughput(t.url, 'tput') };
  await t.agent.stop();
  rows.push(['round trip p50 (ms)', f(direct.lat.p50), f(via.lat.p50), `${f(via.lat.p50 - direct.lat.p50)}`]);
  rows.push(['round trip p99 (ms)', f(direct.lat.p99), f(via.lat.p99), `+${f(via.lat.p99 - direct.lat.p99)}`]);
  rows.push([`QoS 1 throughput, ${burst} msgs, ${window} in flight (msg/s)`, f(direct.tput, 0), f(via.tput, 0), `${f((via.tput / direct.tput) * 100, 0)} %`]);
  console.log(`\nTunnel overhead (edge: broker on workerd as npm start runs it; ${rounds} QoS 0 round trips to one's own subscription)\n`);
  console.log('| measure | direct WebSocket | through device-agent tunnel | difference |\n| --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log('\nAgent memory, 50 tunneled clients (each subscribed, 5 QoS 1 messages each); target < 40 MB RSS\n');
  console.log('| Node | V8 flags | bare node (MB) | agent idle (MB) | agent, 50 clients (MB) | peak (MB) | agent\'s own share (MB) |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, node] of Object.entries(nodes)) {
    for (const flags of [[], v8Flags]) {
      const floor = await bare(node, flags);
      const m = await memory(node, `${edge.url}/bench-mem`, flags);
      console.log(`| ${name} | ${flags.join(' ') || '(defaults)'} | ${f(floor, 1)} | ${f(m.idle, 1)} | ${f(m.loaded, 1)} | ${f(m.peak, 1)} | ${f(m.loaded - floor, 1)} |`);
    }
  }
} finally {
  await edge.stop();
}
