// `npm run bench:profile -- <scenario> [sharded]`: runs one scenario against this broker on workerd
// (its default topology, or `sharded`: the bench's 3 gateways, 4 topic shards, 2 session objects)
// while workerd's inspector records a CPU profile, then prints the functions with the most self
// time and writes the profile (open it in Chrome DevTools) to test-results/.
import { mkdirSync, writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { freePort, startBroker } from '../test/e2e/server.ts';
import type { RunningBroker } from './lib/brokers.ts';
import { usage } from './lib/proc.ts';
import { fanout, latency, throughput } from './lib/scenarios.ts';
import { offlineQueue } from './lib/state-scenarios.ts';
import { benchVars, shardedVars } from './lib/topologies.ts';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface Profile { nodes: Node[]; samples: number[]; timeDeltas: number[] }

const scenarios: Record<string, (b: RunningBroker) => Promise<unknown>> = {
  'qos0-packet': (b) => throughput(b, 0, 'packet', 20_000),
  'qos0-coalesce': (b) => throughput(b, 0, 'coalesce', 40_000),
  'qos0-coalesce-raw': (b) => throughput(b, 0, 'coalesce', 40_000, 'raw'),
  'qos1-packet': (b) => throughput(b, 1, 'packet', 10_000),
  'qos1-coalesce': (b) => throughput(b, 1, 'coalesce', 20_000),
  'fanout-coalesce': (b) => fanout(b, 0, 'coalesce', 300),
  'latency': (b) => latency(b, 'packet', 300),
  'fanout-qos1': (b) => fanout(b, 1, 'coalesce', 200),
  'offline-queue': (b) => offlineQueue(b, 10_000),
};

const name = process.argv[2] ?? 'qos0-coalesce';
const sharded = process.argv[3] === 'sharded';
const inspectorPort = await freePort();
const server = await startBroker({ logLevel: 'warn', vars: sharded ? { ...benchVars, ...shardedVars } : benchVars, inspectorPort });
const broker: RunningBroker = { name: 'edge-mqtt', url: server.url, echo: false, usage: () => usage(server.pgid, true), stop: server.stop };
try {
  // Miniflare's inspector has one target per worker; the broker's is core:user:<name in wrangler.toml>
  const inspector = new WebSocket(`ws://127.0.0.1:${inspectorPort}/core:user:edge-mqtt`);
  await new Promise((r) => inspector.once('open', r));
  let id = 0;
  const call = (method: string, params = {}) => new Promise<Record<string, unknown>>((resolve) => {
    const mine = ++id;
    inspector.on('message', function onMessage(data) {
      const msg = JSON.parse(String(data));
      if (msg.id !== mine) return;
      inspector.off('message', onMessage);
      resolve(msg.result);
    });
    inspector.send(JSON.stringify({ id: mine, method, params }));
  });
  await call('Profiler.enable');
  await call('Profiler.start');
  const result = await scenarios[name](broker);
  const { profile } = (await call('Profiler.stop')) as { profile: Profile };
  inspector.close();
  mkdirSync('test-results', { recursive: true });
  writeFileSync(`test-results/workerd-${name}${sharded ? '-sharded' : ''}.cpuprofile`, JSON.stringify(profile));
  console.log(JSON.stringify(result));
  printTop(profile);
} finally {
  await server.stop();
}

function printTop(profile: Profile): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((s, i) => {
    const n = byId.get(s)!;
    const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`);
  }
}
