// Starts the broker on workerd on a free 127.0.0.1 port the way a user does, with `npm start`
// (scripts/start.ts: Miniflare, no per-event tracing), or with `wrangler dev` for the bench's
// comparison. Each runs in its own process group so that stopping it also stops workerd. State
// persists in `persistTo`, so a stop and a start with the same folder is a server restart.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');
const wrangler = join(root, 'node_modules/wrangler/bin/wrangler.js');

/**
 * `npm start` (the default); `wrangler dev` with its local observability off
 * (`X_LOCAL_OBSERVABILITY=false`); `wrangler dev` as it comes, tracing every event for its dashboard.
 */
export type Launcher = 'npm start' | 'wrangler dev' | 'wrangler dev (traced)';

export interface BrokerServer {
  port: number;
  url: string;
  persistTo: string;
  logs: string[];
  /** The process group of wrangler and its workerd children. */
  pgid: number;
  stop(): Promise<void>;
  /** SIGKILL to the launcher and every process under it (npm runs its script in a group of its own): a power cut. */
  crash(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface StartOptions {
  persistTo?: string;
  vars?: Record<string, string>;
  port?: number;
  /** Another wrangler configuration (the benchmark's echo object). */
  config?: string;
  logLevel?: 'log' | 'warn';
  inspectorPort?: number;
  launcher?: Launcher;
  /** More arguments for `npm start` (e.g. `--rules <file>`). */
  args?: string[];
}

export async function startBroker(opts: StartOptions = {}): Promise<BrokerServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      // a port found free was taken before wrangler bound it (another server starting meanwhile): pick again
      if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err;
    }
  }
}

async function startOnce(opts: StartOptions): Promise<BrokerServer> {
  const port = opts.port ?? (await freePort());
  const persistTo = opts.persistTo ?? mkdtempSync(join(tmpdir(), 'edge-mqtt-'));
  // local brokers accept anonymous clients unless a test says otherwise (deployed ones do not)
  const vars = Object.entries({ MQTT_ALLOW_ANONYMOUS: 'true', ...opts.vars }).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  const config = opts.config ? ['--config', opts.config] : [];
  const launcher = opts.launcher ?? 'npm start';
  // wrangler dev always opens an inspector (9229 unless told): a free port, so that servers can run side by side
  const inspectorPort = opts.inspectorPort ?? (launcher === 'npm start' ? undefined : await freePort());
  const common = [...config, '--ip', '127.0.0.1', '--port', String(port), ...(inspectorPort ? ['--inspector-port', String(inspectorPort)] : []),
    '--persist-to', persistTo, '--log-level', opts.logLevel ?? 'log', ...vars, ...(opts.args ?? [])];
  // npm runs package.json's start script with these arguments after its own
  const [command, args] = launcher === 'npm start' ? ['npm', ['start', '--silent', '--', ...common]] : [process.execPath, [wrangler, 'dev', ...common]];
  const child = spawn(command, args, {
    cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true',
      ...(launcher === 'wrangler dev' ? { X_LOCAL_OBSERVABILITY: 'false' } : launcher === 'wrangler dev (traced)' ? { X_LOCAL_OBSERVABILITY: 'true' } : {}),
    },
  });
  const logs: string[] = [];
  child.stdout!.on('data', (d) => logs.push(String(d)));
  child.stderr!.on('data', (d) => logs.push(String(d)));
  try {
    await waitReady(port, child, logs, launcher);
  } catch (err) {
    await kill(child);
    throw err;
  }
  return {
    port, url: `ws://127.0.0.1:${port}/mqtt`, persistTo, logs, pgid: child.pid!, stop: () => kill(child),
    crash: () => crash(child),
  };
}

async function waitReady(port: number, child: ChildProcess, logs: string[], launcher: Launcher): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`${launcher} exited: ${logs.join('')}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/mqtt`);
      if (res.status === 426) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${launcher} not ready in 60 s: ${logs.join('')}`);
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone
    }
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

/** Every process under `pid`, from ps. */
function descendants(pid: number): number[] {
  const rows = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  for (let i = 0, next = [pid]; next.length && i < 10; i++) {
    next = rows.filter(([, ppid]) => next.includes(ppid)).map(([child]) => child);
    found.push(...next);
  }
  return found;
}

async function crash(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise((r) => child.once('exit', r));
  for (const pid of [child.pid, ...descendants(child.pid)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await exited;
}
