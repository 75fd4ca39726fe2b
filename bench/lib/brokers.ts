// The brokers a benchmark run compares, each started on a free 127.0.0.1 port and measured by
// its own processes: this broker on workerd, Aedes, Mosquitto (when installed) and the echo object.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startBroker } from '../../test/e2e/server.ts';
import { usage, type Usage } from './proc.ts';

export interface RunningBroker {
  name: string;
  /** WebSocket URL clients connect to. */
  url: string;
  /** The echo object relays frames; it speaks no MQTT. */
  echo: boolean;
  usage(): Usage;
  stop(): Promise<void>;
}

const root = join(import.meta.dirname, '../..');

export async function startEdge(vars: Record<string, string> = {}): Promise<RunningBroker> {
  const server = await startBroker({ logLevel: 'warn', vars });
  return { name: 'edge-mqtt', url: server.url, echo: false, usage: () => usage(server.pgid, true), stop: server.stop };
}

export async function startEcho(): Promise<RunningBroker> {
  const server = await startBroker({ logLevel: 'warn', config: join(root, 'bench/echo/wrangler.toml') });
  return { name: 'echo', url: `ws://127.0.0.1:${server.port}/`, echo: true, usage: () => usage(server.pgid, true), stop: server.stop };
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
