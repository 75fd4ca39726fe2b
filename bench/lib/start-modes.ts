// How the way the broker is started changes what it does: `npm start` as shipped, the bench's
// settings on the same launcher, `wrangler dev` with per-event tracing off and on, and the echo
// object both ways. All of them run at once and take turns, scenario by scenario, for `rounds`
// rounds (the order turned each round), so that the load of a shared machine falls on every one
// alike; each row is the round with the median rate.
import type { Launcher } from '../../test/e2e/server.ts';
import { startEcho, startEdge, type RunningBroker } from './brokers.ts';
import type { Framing } from './clients.ts';
import { throughput, type Result } from './scenarios.ts';
import { idle } from './state-scenarios.ts';

const modes: Array<{ name: string; start: (bench: Record<string, string>) => Promise<RunningBroker> }> = [
  { name: 'npm start', start: () => edge({}, 'npm start', 'npm start') },
  { name: 'edge-mqtt', start: (bench) => edge(bench, 'edge-mqtt', 'npm start') },
  { name: 'wrangler dev', start: (bench) => edge(bench, 'wrangler dev', 'wrangler dev') },
  { name: 'wrangler dev (traced)', start: (bench) => edge(bench, 'wrangler dev (traced)', 'wrangler dev (traced)') },
  { name: 'echo', start: () => startEcho() },
  { name: 'echo (wrangler dev)', start: () => startEcho('echo (wrangler dev)', 'wrangler dev') },
];

/** Left out of the cost tables: the same broker as edge-mqtt's there. */
async function edge(vars: Record<string, string>, name: string, launcher: Launcher): Promise<RunningBroker> {
  return { ...(await startEdge(vars, name, launcher)), units: undefined };
}

export interface StartModesOptions {
  /** The settings `npm run bench` gives the broker. */
  bench: Record<string, string>;
  rounds: number;
  /** Messages per throughput run, by QoS. */
  count: (qos: 0 | 1) => number;
  /** Idle connections for the memory figure of the `wrangler dev` rows (npm start's are edge-mqtt's and echo's). */
  idleConnections: number;
  log: (line: string) => void;
}

export async function startModes(opts: StartModesOptions): Promise<Result[]> {
  const brokers: RunningBroker[] = [];
  try {
    for (const m of modes) brokers.push(await m.start(opts.bench));
    const runs = new Map<string, Result[]>();
    for (let round = 0; round < opts.rounds; round++) {
      for (const [qos, framing] of [[0, 'packet'], [0, 'coalesce'], [1, 'packet'], [1, 'coalesce']] as Array<[0 | 1, Framing]>) {
        const turn = brokers.map((_, i) => brokers[(i + round) % brokers.length]).filter((b) => qos === 0 || !b.echo);
        for (const b of turn) {
          const r = await throughput(b, qos, framing, opts.count(qos));
          const key = `${b.name}|${r.scenario}|${framing}`;
          runs.set(key, [...(runs.get(key) ?? []), r]);
          opts.log(`  ${b.name}, ${r.scenario} (${framing}), round ${round + 1}: ${Math.round(r.rate ?? 0)} msg/s`);
        }
      }
    }
    const out = [...runs.values()].map((rs) => [...rs].sort((a, b) => (a.rate ?? 0) - (b.rate ?? 0))[Math.floor(rs.length / 2)]);
    for (const b of brokers.filter((x) => x.name.includes('wrangler dev'))) {
      const r = await idle(b, opts.idleConnections);
      opts.log(`  ${b.name}, ${r.scenario}: ${Math.round(r.durationMs)} ms`);
      out.push(r);
    }
    return out;
  } finally {
    for (const b of brokers) await b.stop();
  }
}
