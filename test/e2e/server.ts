// Starts the broker on workerd (`wrangler dev`) on a free 127.0.0.1 port, in its own process
// group so that stopping it also stops workerd's children. State persists in `persistTo`,
// so a stop and a start with the same folder is a server restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '../..');
const wrangler = join(root, 'node_modules/wrangler/bin/wrangler.js');

export interface BrokerServer {
  port: number;
  url: string;
  persistTo: string;
  logs: string[];
  /** The process group of wrangler and its workerd children. */
  pgid: number;
  stop(): Promise<void>;
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
  const args = [wrangler, 'dev', ...config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(opts.inspectorPort ?? (await freePort())),
    '--persist-to', persistTo, '--log-level', opts.logLevel ?? 'log', ...vars];
  const child = spawn(process.execPath, args, {
    cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: 'true' },
  });
  const logs: string[] = [];
  child.stdout!.on('data', (d) => logs.push(String(d)));
  child.stderr!.on('data', (d) => logs.push(String(d)));
  try {
    await waitReady(port, child, logs);
  } catch (err) {
    await kill(child);
    throw err;
  }
  return { port, url: `ws://127.0.0.1:${port}/mqtt`, persistTo, logs, pgid: child.pid!, stop: () => kill(child) };
}

async function waitReady(port: number, child: ChildProcess, logs: string[]): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited: ${logs.join('')}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/mqtt`);
      if (res.status === 426) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`wrangler dev not ready in 60 s: ${logs.join('')}`);
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
