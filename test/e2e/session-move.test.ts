// A persistent session with tens of megabytes of queued messages moves between a gateway and its
// session object in pages (one Durable Object RPC call carries at most 32 MiB): away with 34
// messages of about 1 MB queued, its client comes back on another gateway and gets every one, in
// order; then 34 more left unacknowledged on that gateway travel back when it leaves, and arrive
// on a third gateway. Nothing acknowledged to the publisher is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectPacket, Packet } from '../../src/protocol/index.ts';
import { RawClient, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const shardedVars = { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' };
const count = 34;
const size = 1_000_000;

describe('a session with tens of megabytes queued moves between objects in pages', () => {
  let server: BrokerServer;
  const at = (gateway: number) => `ws://127.0.0.1:${server.port}/mqtt?gateway=${gateway}`;
  beforeAll(async () => {
    server = await startBroker({ vars: shardedVars });
  }, 90_000);
  afterAll(async () => {
    if (process.env.SHOW_LOGS) console.log(server?.logs.join(''));
    await server?.stop();
  });

  const payload = (n: number) => {
    const bytes = new Uint8Array(size).fill(n % 251);
    bytes.set(new TextEncoder().encode(`#${n}#`));
    return bytes;
  };
  const number = (p: Packet & { type: 'publish' }) => Number(/^#(\d+)#/.exec(new TextDecoder().decode(p.payload.subarray(0, 12)))![1]);

  /** Publishes messages `from`..`to` at QoS 1, each acknowledged before the next. */
  async function publish(topic: string, from: number, to: number): Promise<void> {
    const { raw } = await RawClient.connect(at(2), 4, { clientId: uniqueId('pub') });
    for (let n = from; n <= to; n++) {
      raw.send({ type: 'publish', topic, payload: payload(n), qos: 1, retain: false, dup: false, packetId: 1 + (n % 60000) });
      const ack = await raw.next(20_000);
      expect(ack.type).toBe('puback');
    }
    raw.close();
  }

  /** Connects, resuming the session, and collects message numbers (acknowledging them when asked). */
  async function resume(gateway: number, connect: Partial<ConnectPacket>, ack: boolean, want: number) {
    const raw = await RawClient.open(at(gateway), 5);
    const got: number[] = [];
    let connack: Packet | undefined;
    raw.onPacket = (p) => {
      if (p.type === 'connack') connack = p;
      if (p.type !== 'publish') return;
      got.push(number(p));
      if (ack) raw.send({ type: 'puback', packetId: p.packetId! });
    };
    raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, keepalive: 0, clean: false, clientId: '', ...connect });
    const until = Date.now() + 60_000;
    while (got.length < want && Date.now() < until && raw.closeCode === undefined) await new Promise((r) => setTimeout(r, 50));
    return { raw, got, connack };
  }

  it(`${count} messages of ${size} bytes queued away, then ${count} more in flight on a gateway: every one arrives, in order`, async () => {
    const clientId = uniqueId('big');
    const topic = `big/${clientId}`;
    const session = { clientId, properties: { sessionExpiryInterval: 600, receiveMaximum: 4 } };
    const first = await RawClient.connect(at(0), 5, { ...session, clean: true });
    first.raw.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    expect((await first.raw.next()).type).toBe('suback');
    first.raw.send({ type: 'disconnect', reasonCode: 0 });
    first.raw.close();

    // away: the session object queues them (34 MB: more than one call can carry)
    await publish(topic, 1, count);
    const back = await resume(1, session, true, count);
    expect(back.connack).toMatchObject({ type: 'connack', reasonCode: 0, sessionPresent: true });
    expect(back.got).toEqual(Array.from({ length: count }, (_, i) => i + 1));

    // connected but not acknowledging: 4 in flight, the rest queued on the gateway; then it leaves
    back.raw.onPacket = () => undefined;
    await publish(topic, count + 1, 2 * count);
    back.raw.close();
    const last = await resume(0, session, true, count);
    expect(last.connack).toMatchObject({ type: 'connack', reasonCode: 0, sessionPresent: true });
    // the 4 in flight come again (DUP), then the rest, in order [MQTT-4.6.0-1]
    expect([...new Set(last.got)]).toEqual(Array.from({ length: count }, (_, i) => count + i + 1));
    last.raw.close();
  }, 240_000);
});
