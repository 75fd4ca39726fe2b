// `npm run bench`: every broker on 127.0.0.1 driven by the same clients, one markdown table per
// scenario with ratios to Aedes, to the echo object (the runtime's ceiling) and to this broker's
// default topology (edge-mqtt; edge-sharded runs every scenario too), fan-out as gateways are
// added (edge-sharded-1gw, -2gw, -4gw), then what the edge broker's traffic costs in both of its
// topologies, publishing with 0, 1 and 10 rules matching (lib/rules-scenarios.ts), how the way the
// broker is started changes its rate (lib/start-modes.ts), what rule actions' sinks cost per million
// messages, from list prices plus the rules scenario's measured outbox (lib/sink-cost.ts), and last
// what a wake costs as state grows (lib/state-size.ts).
// BENCH_SCALE=0.1 runs a quick, smaller version; BENCH_BROKERS=edge-mqtt,aedes picks brokers
// ("start-modes" and "state-size" are those last two); BENCH_ROUNDS the start modes' rounds (3);
// BENCH_SCENARIO=<name>,… runs only those of `focused` below on every broker picked; BENCH_IDLE_ONLY=1
// runs only the idle-device scenarios (on edge-mqtt and edge-sharded); BENCH_SCENARIO=rules runs the
// rules scenario (0, 1 and 10 rules, on edge-mqtt and edge-sharded, one start each).
import { cpus } from 'node:os';
import { mosquittoInstalled, startAedes, startEcho, startEdge, startMosquitto, type RunningBroker } from './lib/brokers.ts';
import type { Framing } from './lib/clients.ts';
import { devices, fanout, latency, throughput, type Result } from './lib/scenarios.ts';
import { idle, offlineQueue, retained } from './lib/state-scenarios.ts';
import { idleDevices, type IdleProfile } from './lib/idle-scenarios.ts';
import { printCost, printIdle, printStartModes, printTables } from './lib/report.ts';
import { startModes } from './lib/start-modes.ts';
import { printWakes, wakeAtSize, type StateKind, type WakeResult } from './lib/state-size.ts';
import { printSinkCost } from './lib/sink-cost.ts';
import { printRules, ruleCounts, rulesFile, rulesRun, type RulesResult } from './lib/rules-scenarios.ts';
import { benchVars, shardedVars } from './lib/topologies.ts';

const scale = Number(process.env.BENCH_SCALE ?? 1);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const idleOnly = process.env.BENCH_IDLE_ONLY === '1';
const focus = process.env.BENCH_SCENARIO?.split(',');
const n = (count: number) => Math.max(4, Math.round(count * scale));
const framings: Framing[] = ['packet', 'coalesce'];

const brokers: Array<{ name: string; start: () => Promise<RunningBroker> }> = [
  { name: 'echo', start: startEcho },
  { name: 'edge-mqtt', start: () => startEdge(benchVars) },
  { name: 'edge-sharded', start: () => startEdge({ ...benchVars, ...shardedVars }, 'edge-sharded') },
  { name: 'aedes', start: startAedes },
  ...(mosquittoInstalled() ? [{ name: 'mosquitto', start: startMosquitto }] : []),
  // fan-out as gateways are added: subscribers spread over them, the publisher on the first
  ...[1, 2, 4].map((gateways) => ({
    name: `edge-sharded-${gateways}gw`,
    start: async () => ({ ...(await startEdge({ ...benchVars, ...shardedVars, MQTT_GATEWAYS: String(gateways) }, `edge-sharded, ${gateways} gateway${gateways > 1 ? 's' : ''}`)), spread: gateways }),
  })),
];

/**
 * The offline queue's drain lasts under a second: one drain under this machine's load says little
 * (single drains of one run spanned 2x), so it runs `rounds` times (BENCH_ROUNDS) and the drain of
 * median rate is kept, with the losses, duplicates and reorderings of all of them.
 */
async function medianDrain(b: RunningBroker): Promise<Result> {
  const runs: Result[] = [];
  for (let i = 0; i < rounds; i++) runs.push(await offlineQueue(b, n(10_000)));
  runs.sort((x, y) => (x.rate ?? 0) - (y.rate ?? 0));
  const median = runs[Math.floor(runs.length / 2)];
  const each = (f: (r: Result) => number | undefined) => runs.map((r) => Math.round(f(r) ?? 0)).join(', ');
  console.error(`  ${b.name} offline queue drains: ${each((r) => r.rate)} msg/s; CONNACK after ${each((r) => r.connack?.ms)} ms`);
  return { ...median, scenario: `${median.scenario}, median of ${runs.length}`, losses: sum(runs, 'losses'), duplicates: sum(runs, 'duplicates'), reordered: sum(runs, 'reordered') };
}

const sum = (runs: Result[], key: 'losses' | 'duplicates' | 'reordered') => runs.reduce((n, r) => n + r[key], 0);

/** Scenarios one can run alone, on every broker that has them (the echo object has no queue). */
const focused: Record<string, (b: RunningBroker) => Promise<Result> | undefined> = {
  'offline-queue': (b) => (b.echo ? undefined : medianDrain(b)),
  'fanout-qos1': (b) => fanout(b, 1, 'coalesce', n(200)),
  'qos1-coalesce': (b) => (b.echo ? undefined : throughput(b, 1, 'coalesce', n(10_000))),
  'qos0-coalesce': (b) => (b.echo ? undefined : throughput(b, 0, 'coalesce', n(20_000))),
  'qos0-coalesce-raw': (b) => (b.echo ? undefined : throughput(b, 0, 'coalesce', n(20_000), 'raw')),
  'low-rate': (b) => latency(b, 'packet', n(300)),
};

// Idle devices, every profile at once in a namespace of its own: MQTT.js's default keepalive, and
// the device-agent's long one with WebSocket pings (every third of --stall-timeout 20); a fleet of
// devices sharing the namespace, and a device alone in one.
const idlePeriodMs = 120_000;
const idleProfiles = (sockets: number): Array<[string, IdleProfile]> => [
  ['fleet, keepalive 60', { fleet: 10 * sockets, sockets, keepalive: 60, wsPing: 0, periodMs: idlePeriodMs }],
  ['fleet, keepalive 3600 + WebSocket pings', { fleet: 10 * sockets, sockets, keepalive: 3600, wsPing: 20 / 3, periodMs: idlePeriodMs }],
  ['alone, keepalive 60', { fleet: 1, sockets: 1, keepalive: 60, wsPing: 0, periodMs: idlePeriodMs }],
  ['alone, keepalive 60 + WebSocket pings', { fleet: 1, sockets: 1, keepalive: 60, wsPing: 20 / 3, periodMs: idlePeriodMs }],
  ['alone, WebSocket pings only', { fleet: 1, sockets: 1, keepalive: 3600, wsPing: 20 / 3, periodMs: idlePeriodMs }],
];

async function scenarios(b: RunningBroker): Promise<Result[]> {
  const out: Result[] = [];
  const run = async (r: Promise<Result>) => {
    const result = await r;
    out.push(result);
    console.error(`  ${result.scenario}${result.framing ? ` (${result.framing})` : ''}: ${Math.round(result.durationMs)} ms`);
  };
  if (focus) {
    for (const name of focus) {
      const r = focused[name]?.(b);
      if (r) await run(r);
    }
    return out;
  }
  if (b.units && !b.spread) for (const r of await Promise.all(idleProfiles(n(100)).map(([name, p]) => idleDevices(b, name, p)))) await run(Promise.resolve(r));
  if (idleOnly) return out;
  if (b.spread) {
    for (const qos of [0, 1] as const) await run(fanout(b, qos, 'coalesce', n(200)));
    return out;
  }
  for (const framing of framings) {
    for (const qos of b.echo ? [0] as const : [0, 1, 2] as const) await run(throughput(b, qos, framing, n([20_000, 10_000, 5_000][qos])));
    // the same clients as the echo object's, so that the ratio to it measures the broker alone
    if (!b.echo) await run(throughput(b, 0, framing, n(20_000), 'raw'));
    for (const qos of b.echo ? [0] as const : [0, 1] as const) await run(fanout(b, qos, framing, n(200)));
  }
  await run(latency(b, 'packet', n(300)));
  if (b.units) await run(devices(b, n(100)));
  await run(idle(b, n(2_000)));
  if (!b.echo) {
    await run(retained(b, n(1_000)));
    await run(medianDrain(b));
  }
  return out;
}

const only = process.env.BENCH_BROKERS?.split(',') ?? (idleOnly ? ['edge-mqtt', 'edge-sharded'] : undefined);
const results: Result[] = [];
const started = Date.now();
for (const { name, start } of brokers) {
  if ((only && !only.includes(name)) || focus?.every((f) => f === 'rules')) continue;
  console.error(`${name}:`);
  const broker = await start();
  try {
    results.push(...(await scenarios(broker)));
  } finally {
    await broker.stop();
  }
}
// the rules scenario: a start per rule count, in each topology picked
const ruleRuns: RulesResult[] = [];
const topologies = [['edge-mqtt', benchVars], ['edge-sharded', { ...benchVars, ...shardedVars }]] as const;
for (const [name, vars] of (!focus || focus.includes('rules')) && !idleOnly ? topologies : []) {
  if (only && !only.includes(name)) continue;
  for (const rules of ruleCounts) {
    console.error(`${name}, ${rules} rules:`);
    const broker = await startEdge(rules ? { ...vars, MQTT_RULES_FILE: rulesFile(rules) } : vars, name);
    try {
      const r = await rulesRun(broker, rules, n(10_000), n(300), rounds);
      ruleRuns.push(r);
      console.error(`  ${Math.round(r.throughput.rate ?? 0)} msg/s, drained in ${Math.round(r.drainMs)} ms`);
    } finally {
      await broker.stop();
    }
  }
}
if (!only || only.includes('start-modes')) console.error('start-modes:');
const starts = only && !only.includes('start-modes') ? [] : await startModes({
  bench: benchVars, rounds, count: (qos) => n([20_000, 10_000][qos]), idleConnections: n(2_000), log: (line) => console.error(line),
});
const wakes: WakeResult[] = [];
if (!only || only.includes('state-size')) {
  console.error('state-size:');
  const sizes: Record<StateKind, number[]> = { subscriptions: [1_000, 10_000], retained: [1_000, 10_000, 100_000], sessions: [1_000, 10_000] };
  // 10,000 subscriptions and the waker's fill one index past MQTT_MAX_SUBSCRIPTIONS' default (10,000)
  const room = { MQTT_MAX_SUBSCRIPTIONS: '11000' };
  for (const [topology, vars] of [['default', room], ['sharded', { ...shardedVars, ...room }]] as const) {
    for (const kind of ['subscriptions', 'retained', 'sessions'] as const) {
      for (const size of sizes[kind].map(n)) {
        // one failed size is reported, not allowed to lose the whole run's tables
        const r = await wakeAtSize(topology, vars, kind, size).catch((e: Error) => void console.error(`  ${topology} ${kind} ${size}: FAILED ${e.message}`));
        if (!r) continue;
        console.error(`  ${topology} ${kind} ${size}: wake ${Math.round(r.wakeMs)} ms, +${(r.rssGrowth / 1e6).toFixed(1)} MB, ${r.rowsRead} rows read`);
        wakes.push(r);
      }
    }
  }
}
console.log('This broker (edge-mqtt, edge-sharded) and the echo object run as `npm start` runs them: scripts/start.ts, Miniflare\n' +
  'with no per-event tracing and no dev proxy. The last tables also start them with wrangler dev 4.156.2, tracing off\n' +
  `(X_LOCAL_OBSERVABILITY=false) and on (as it comes): the run of median rate out of ${rounds}.\n`);
console.log(`Run ${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), scale ${scale}, ${Math.round((Date.now() - started) / 1000)} s.\n`);
printTables(results);
printCost(results);
printIdle(results);
printRules(ruleRuns);
printSinkCost(ruleRuns);
printStartModes(starts);
printWakes(wakes);
