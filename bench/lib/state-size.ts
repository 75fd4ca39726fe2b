// Wake cost against state size (issue 14): a namespace is filled with N subscriptions (held by
// persistent sessions that are away), N retained messages or N persistent sessions, the server is
// restarted on its stored state, and one client wakes it: CONNECT, then a SUBSCRIBE to `+/wake`
// (every topic shard gets it) with Retain Handling 2. Measured: time from the restart's first
// CONNECT to that SUBACK, the workerd processes' RSS growth over the same span, and rows read
// meanwhile (GET /api/cost before the restart and after the wake; those calls are not counted).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker } from '../../test/e2e/server.ts';
import { connect, endAll } from './clients.ts';
import { readUnits } from './cost.ts';
import { usage } from './proc.ts';
import { clock } from './tracker.ts';

export type StateKind = 'subscriptions' | 'retained' | 'sessions';

export interface WakeResult {
  topology: string;
  kind: StateKind;
  size: number;
  fillMs: number;
  wakeMs: number;
  rssGrowth: number;
  rowsRead: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Filters a client holds here: under MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT (256). */
const perClient = 250;
const persistent = { clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 86_400 } };

/** Fills a new namespace with `size` of `kind`, restarts the server and measures one wake. */
export async function wakeAtSize(topology: string, vars: Record<string, string>, kind: StateKind, size: number): Promise<WakeResult> {
  const persistTo = mkdtempSync(join(tmpdir(), 'bench-state-'));
  let server = await startBroker({ logLevel: 'warn', vars, persistTo });
  try {
    const t0 = clock();
    await fill(server.url, kind, size);
    const fillMs = clock() - t0;
    await sleep(6_000); // a meter saves at most every 5 s while busy, a second after its last change
    const before = await readUnits(server.port);
    await server.stop();
    server = await startBroker({ logLevel: 'warn', vars, persistTo });
    await sleep(1_000);
    const rss = usage(server.pgid, true).rssBytes;
    const t1 = clock();
    const c = await connect(server.url, 'packet', { protocolVersion: 5, clientId: `waker-${process.pid}` });
    await c.subscribeAsync('+/wake', { qos: 0, rh: 2 });
    const wakeMs = clock() - t1;
    const rssGrowth = usage(server.pgid, true).rssBytes - rss;
    await endAll([c]);
    await sleep(6_000);
    const after = await readUnits(server.port);
    return { topology, kind, size, fillMs, wakeMs, rssGrowth, rowsRead: after.rowsRead - before.rowsRead };
  } finally {
    await server.stop();
  }
}

async function fill(url: string, kind: StateKind, size: number): Promise<void> {
  if (kind === 'retained') {
    const pub = await connect(url, 'coalesce');
    await windowed(size, 100, (i) => pub.publishAsync(`r${i % 64}/${i}`, `m${i}`, { qos: 1, retain: true }));
    await endAll([pub]);
    return;
  }
  if (kind === 'sessions') {
    return windowed(size, 50, async (i) => {
      const c = await connect(url, 'packet', { ...persistent, clientId: `s-${i}` });
      await c.endAsync();
    });
  }
  const clients = Math.ceil(size / perClient);
  await windowed(clients, 20, async (k) => {
    const c = await connect(url, 'packet', { ...persistent, clientId: `h-${k}` });
    const count = Math.min(perClient, size - k * perClient);
    // the first level spreads them over the topic shards
    await c.subscribeAsync(Array.from({ length: count }, (_, j) => `f${j % 64}/${k}/${j}`), { qos: 1 });
    await c.endAsync();
  });
}

/** Runs `task(i)` for i < count with at most `window` unfinished. */
async function windowed(count: number, window: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: window }, async () => {
    while (next < count) await task(next++);
  }));
}

/** One markdown table: a row per topology, kind and size. */
export function printWakes(results: WakeResult[]): void {
  if (!results.length) return;
  console.log('#### Wake against state size (a restart, then one CONNECT and one SUBSCRIBE)\n');
  console.log('| topology | state | size | fill s | wake ms | RSS growth MB | rows read |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(`| ${r.topology} | ${r.kind} | ${r.size} | ${(r.fillMs / 1000).toFixed(1)} | ${Math.round(r.wakeMs)} | ${(r.rssGrowth / 1e6).toFixed(1)} | ${r.rowsRead} |`);
  }
  console.log('');
}
