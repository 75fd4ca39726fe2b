// The brokers a benchmark run compares, each started on a free 127.0.0.1 port and measured by
// its own processes: this broker on workerd, Aedes, Mosquitto (when installed) and the echo object.
// This broker and the echo object start as `npm start` starts them (scripts/start.ts: Miniflare,
// no per-event tracing, no dev proxy) unless `launcher` names a `wrangler dev` variant.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startBroker, type Launcher } from '../../test/e2e/server.ts';
import { connect, endAll } from './clients.ts';
import { readUnits, type Units } from './cost.ts';
import { usage, type Usage } from './proc.ts';

export interface RunningBroker {
  name: string;
  /** WebSocket URL clients connect to. */
  url: string;
  /** The echo object relays frames; it speaks no MQTT. */
  echo: boolean;
  usage(): Usage;
  /** This broker's billed units so far in the namespace `url` names, or in `namespace` (GET /api/cost). */
  units?(namespace?: string): Promise<Units>;
  /** Sharded: fan-out subscribers go round the first `spread` gateways, the publisher to the first. */
  spread?: number;
  stop(): Promise<void>;
}

const root = join(import.meta.dirname, '../..');

/**
 * Where workerd keeps the Durable Objects' SQLite files (BENCH_STORAGE): `disk`, a temporary
 * folder (this VM: ext4 on a virtual disk other sessions share), or `tmpfs` (/dev/shm, memory),
 * where a commit costs no disk flush. Aedes and Mosquitto, as the bench runs them, keep their
 * queues in memory and flush nothing.
 */
export const storage = process.env.BENCH_STORAGE === 'tmpfs' && existsSync('/dev/shm') ? 'tmpfs' : 'disk';

export async function startEdge(vars: Record<string, string> = {}, name = 'edge-mqtt', launcher?: Launcher): Promise<RunningBroker> {
  const persistTo = storage === 'tmpfs' ? mkdtempSync('/dev/shm/edge-mqtt-bench-') : undefined;
  const server = await startBroker({ logLevel: 'warn', vars, launcher, persistTo });
  await warmUp(server.url, Number(vars.MQTT_GATEWAYS ?? 1));
  const stop = async () => {
    await server.stop();
    if (persistTo) rmSync(persistTo, { recursive: true, force: true }); // memory, not disk: given back
  };
  return { name, url: server.url, echo: false, usage: () => usage(server.pgid, true), units: (namespace) => readUnits(server.port, namespace), stop };
}

/**
 * Calls every object of the namespace before anything is measured, so that each saves its meter:
 * an object whose meter never saved loses what its first start counted (17 rows written creating
 * its tables) when the runtime evicts it, and the namespace's units would fall mid-run.
 */
async function warmUp(url: string, gateways: number): Promise<void> {
  // every gateway gets clients; all of them subscribe on every topic shard; 12 random client ids
  // miss one of two session objects once in 2,000 runs
  const clients = await Promise.all(Array.from({ length: 12 }, (_, i) => connect(`${url}?gateway=${i % gateways}`, 'packet')));
  await Promise.all(clients.map((c) => c.subscribeAsync('+/warm-up')));
  await endAll(clients);
  await new Promise((r) => setTimeout(r, 2_000)); // a meter saves a second after its first change
}

export async function startEcho(name = 'echo', launcher?: Launcher): Promise<RunningBroker> {
  const server = await startBroker({ logLevel: 'warn', config: join(root, 'bench/echo/wrangler.toml'), launcher });
  return { name, url: `ws://127.0.0.1:${server.port}/`, echo: true, usage: () => usage(server.pgid, true), stop: server.stop };
}

export async function startAedes(): Promise<RunningBroker> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(import.meta.dirname, 'aedes-server.ts'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitFor(child, (line) => line.includes('listening'));
  return { name: 'aedes', url: `ws://127.0.0.1:${port}`, echo: false, usage: () => usage(child.pid!, false), stop: () => stop(child) };
}

export function mosquittoInstalled(): boolean {
  return spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error === undefined;
}

/** Mosquitto 2.0.11 refuses to start with a websockets listener alone, so it gets a TCP one too. */
export async function startMosquitto(): Promise<RunningBroker> {
  const [ws, tcp] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, [`listener ${tcp} 127.0.0.1`, `listener ${ws} 127.0.0.1`, 'protocol websockets', 'allow_anonymous true',
    'max_queued_messages 20000', 'max_inflight_messages 0', ''].join('\n'));
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  await waitFor(child, (line) => line.includes('running'));
  return { name: 'mosquitto', url: `ws://127.0.0.1:${ws}`, echo: false, usage: () => usage(child.pid!, false), stop: () => stop(child) };
}

function waitFor(child: ChildProcess, ready: (line: string) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('broker did not start in 20 s')), 20_000);
    const check = (d: Buffer) => {
      if (ready(String(d))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}
