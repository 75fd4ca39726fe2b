// Slow and half-open clients are closed in bounded time: a CONNECT that never completes, and a
// client that never reads while messages pile up for it. Raw TCP, so the client can really stop.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decoder, encode, type Packet } from '../../src/protocol/index.ts';
import { connectMqtt, inbox, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { TcpWebSocket } from './tcp-ws.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function closedWithin(ws: TcpWebSocket, ms: number): Promise<number | undefined> {
  const started = Date.now();
  while (!(ws.closeFrame || ws.ended) && Date.now() - started < ms) await sleep(20);
  return ws.closeFrame || ws.ended ? Date.now() - started : undefined;
}

function packets(bytes: Uint8Array): Packet[] {
  const decoder = new Decoder({ protocolVersion: 5 });
  decoder.push(bytes);
  const out: Packet[] = [];
  for (let p = decoder.next(); p; p = decoder.next()) out.push(p);
  return out;
}

describe('slow and half-open clients', () => {
  let server: BrokerServer;
  beforeAll(async () => void (server = await startBroker({ vars: { MQTT_CONNECT_TIMEOUT: '2000', MQTT_KEEPALIVE_GRACE: '0' } })), 90_000);
  afterAll(async () => server?.stop());

  it('closes a client whose CONNECT never completes, though its bytes trickle in, within the connect timeout', async () => {
    const ws = await TcpWebSocket.open(server.port);
    const connect = encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: uniqueId('trickling-client') }, 4);
    expect(connect.length).toBeGreaterThan(25);
    const started = Date.now();
    // one byte every 400 ms for 10 s, never a whole CONNECT: a timer restarted by each byte never fires meanwhile
    for (let i = 0; i < 25 && !ws.closeFrame && !ws.ended; i++) {
      ws.send(connect.subarray(i, i + 1));
      await sleep(400);
    }
    const after = await closedWithin(ws, 8_000);
    expect(after).toBeDefined();
    const total = Date.now() - started;
    expect(total).toBeGreaterThanOrEqual(1_900);
    expect(total).toBeLessThan(2_000 + 6_000); // timeout, alarm resolution, a loaded machine; still well before the trickle ends
    ws.socket.destroy();
  });

  it('closes a client that stops reading, with 0x8D after 1.5x keepalive, while messages pile up for it', async () => {
    const topic = uniqueId('flood');
    const ws = await TcpWebSocket.open(server.port);
    ws.send(encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 2, clientId: uniqueId('stuck') }, 5));
    ws.send(encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 0 }] }, 5));
    await sleep(300);
    ws.socket.pause(); // from here on nothing is read: the server's writes back up in the buffers
    const stoppedAt = Date.now();

    const watcher = await connectMqtt(server.url, { protocolVersion: 5 });
    await watcher.subscribeAsync(topic);
    const seen = inbox(watcher);
    const pub = await connectMqtt(server.url, { protocolVersion: 4 });
    const payload = 'x'.repeat(1024);
    for (let i = 0; i < 1500; i++) pub.publish(topic, payload);
    await pub.publishAsync(topic, 'last', { qos: 1 });
    for (let i = 0; i < 1501; i++) await seen.next(10_000); // a reading client got everything meanwhile

    await sleep(Math.max(0, stoppedAt + 5_000 - Date.now())); // 1.5 x 2 s, plus alarm resolution and slack
    ws.socket.resume();
    expect(await closedWithin(ws, 10_000)).toBeDefined();
    const got = packets(ws.bytes());
    expect(got.filter((p) => p.type === 'publish').length).toBeGreaterThan(100); // it was sent to, unread
    expect(got.at(-1)).toMatchObject({ type: 'disconnect', reasonCode: 0x8d });
    expect(pub.connected && watcher.connected).toBe(true);
    await Promise.all([pub.endAsync(), watcher.endAsync()]);
  }, 40_000);
});
