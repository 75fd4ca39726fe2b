// `npm start` (scripts/start.ts) as a user meets it: what it prints, where it keeps state, how it
// stops, and what it says to a command line it cannot use.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerServer } from './server.ts';

const root = join(import.meta.dirname, '../..');

/** The command lines of the processes in process group `pgid`. */
function group(pgid: number): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      out.push(`${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('npm start', () => {
  let server: BrokerServer;
  beforeAll(async () => void (server = await startBroker()), 90_000);
  afterAll(async () => server?.stop());

  it('prints the MQTT URL and the console URL, and both serve', async () => {
    // the server answers as soon as workerd listens; the launcher prints right after
    const until = Date.now() + 10_000;
    while (!server.logs.join('').includes('console:') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const printed = server.logs.join('');
    expect(printed).toContain('no per-event tracing');
    const url = printed.match(/MQTT over WebSocket: (ws:\/\/\S+)/)?.[1];
    expect(url).toBe(`ws://127.0.0.1:${server.port}/mqtt`);
    const client = await mqtt.connectAsync(url!, { reconnectPeriod: 0, connectTimeout: 10_000 });
    const got = new Promise<string>((resolve) => client.once('message', (_t, m) => resolve(String(m))));
    await client.subscribeAsync('start/test', { qos: 1 });
    await client.publishAsync('start/test', 'hello', { qos: 1 });
    expect(await got).toBe('hello');
    await client.endAsync();
    const page = await fetch(printed.match(/console: +(http:\/\/\S+)/)![1]);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
  }, 30_000);

  it("keeps state where wrangler dev keeps it (<persist-to>/v3), so both serve the same data", () => {
    expect(existsSync(join(server.persistTo, 'v3/do/edge-mqtt-BrokerObject'))).toBe(true);
  });

  it('stops workerd when the launcher alone gets SIGINT (Ctrl-C)', async () => {
    const launcher = group(server.pgid).find((p) => / scripts\/start\.ts /.test(p) && !p.includes(' -c '));
    expect(launcher).toBeDefined();
    expect(group(server.pgid).some((p) => p.includes('workerd'))).toBe(true);
    process.kill(Number(launcher!.split(' ')[0]), 'SIGINT');
    const until = Date.now() + 15_000;
    while (group(server.pgid).some((p) => p.includes('workerd') || / scripts\/start\.ts /.test(p)) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(group(server.pgid).filter((p) => p.includes('workerd') || / scripts\/start\.ts /.test(p))).toEqual([]);
  }, 30_000);
});

describe('npm start prints uncaught exceptions', () => {
  it('of the Worker and of its Durable Objects, once each, with the stack', async () => {
    const server = await startBroker({ config: join(root, 'test/e2e/uncaught/wrangler.toml') });
    try {
      expect((await fetch(`http://127.0.0.1:${server.port}/throw`)).status).toBe(500);
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.send('hello');
      const until = Date.now() + 10_000;
      while (!server.logs.join('').includes('thrown in webSocketMessage') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      ws.terminate();
      const log = server.logs.join('');
      expect(log.match(/✘ Uncaught Error: thrown in fetch\n +at fetch \(/g)).toHaveLength(1);
      expect(log.match(/✘ Uncaught Error: thrown in webSocketMessage: hello\n +at webSocketMessage \(/g)).toHaveLength(1);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('npm start refuses a command line it cannot use', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--var', 'MQTT_ALLOW_ANONYMOUS'], /--var MQTT_ALLOW_ANONYMOUS: not NAME:VALUE/],
    [['--var', ':true'], /--var :true: not NAME:VALUE/],
    [['--port', 'eighty'], /--port eighty: not a port number/],
    [['--port', '70000'], /--port 70000: not a port number/],
    [['--log-level', 'loud'], /--log-level loud: not one of/],
    [['--hot-reload'], /Unknown option '--hot-reload'/],
    [['--rules', '/nonexistent/rules.json'], /--rules \/nonexistent\/rules.json: ENOENT/],
  ];
  for (const [args, message] of cases) {
    it(`${args.join(' ')}: exit code 2 and the usage`, () => {
      const r = spawnSync(process.execPath, [join(root, 'scripts/start.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('usage: node scripts/start.ts');
    });
  }
});
