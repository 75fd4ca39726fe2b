// `node bench/closes.ts`: 2,000 clients close their WebSockets at the same moment (issue 14's "many
// closes at once"), in both topologies, under `npm start`. Measured from the closes: when a plain
// GET of the namespace's URL answers, when a client that stays gets its PINGRESP, and when every
// closing client saw its socket closed. CLOSES=<n> changes the count.
import WebSocket from 'ws';
import { startBroker } from '../test/e2e/server.ts';

const count = Number(process.env.CLOSES ?? 2_000);
const sharded = { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' };
/** MQTT 3.1.1 CONNECT, clean, keepalive 0, client id `c` + 4 digits. */
const connectPacket = (i: number) => Buffer.concat([Buffer.from([0x10, 17, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 5]), Buffer.from(`c${String(i).padStart(4, '0')}`)]);
const pingreq = Buffer.from([0xc0, 0]);

function open(url: string, i: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['mqtt']);
    ws.once('error', reject);
    ws.once('open', () => ws.send(connectPacket(i)));
    ws.once('message', () => resolve(ws)); // CONNACK
  });
}

async function measure(topology: string, vars: Record<string, string>): Promise<void> {
  const server = await startBroker({ logLevel: 'warn', vars });
  try {
    const clients: WebSocket[] = [];
    for (let i = 0; i < count; i += 50) clients.push(...(await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => open(server.url, i + k)))));
    const stays = await open(server.url, count);
    const closed = Promise.all(clients.map((ws) => new Promise((r) => ws.once('close', r))));
    const t0 = performance.now();
    for (const ws of clients) ws.close();
    const get = fetch(`http://127.0.0.1:${server.port}/mqtt`).then(() => performance.now() - t0);
    const pong = new Promise<number>((r) => {
      stays.once('message', () => r(performance.now() - t0));
      stays.send(pingreq);
    });
    const all = Promise.race([closed.then(() => performance.now() - t0), new Promise<number>((r) => setTimeout(() => r(NaN), 60_000))]);
    const [getMs, pongMs, allMs] = await Promise.all([get, pong, all]);
    console.log(`| ${topology} | ${count} | ${(getMs / 1000).toFixed(2)} | ${(pongMs / 1000).toFixed(2)} | ${Number.isNaN(allMs) ? '> 60' : (allMs / 1000).toFixed(2)} |`);
    stays.close();
  } finally {
    await server.stop();
  }
}

console.log('| topology | clients closing | plain GET answered, s | PINGRESP to a client that stays, s | every close completed, s |');
console.log('| --- | ---: | ---: | ---: | ---: |');
await measure('default', {});
await measure('sharded', sharded);
