// Publisher sockets cut mid-stream, again and again, in both topologies: every message the broker
// acknowledged (PUBACK, PUBREC) reaches the subscriber, QoS 2 exactly once. The publisher is a raw
// client with a persistent session that resends what was not acknowledged after each cut, with
// DUP, and PUBREL for what was received but not completed [MQTT-4.4.0-1], as a client must.
// Unlike exactly-once.test.ts (a closing handshake before any acknowledgement is read), the TCP
// connection is dropped with no close frame after some acknowledgements arrived, and one stream
// runs on across the cuts, so the resends mix with PUBRELs of messages already received.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Decoder, encode, type Packet } from '../../src/protocol/index.ts';
import { random } from './hostile.ts';
import { RawClient, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const topologies: Array<[string, Record<string, string>]> = [
  ['default topology', {}],
  ['sharded topology', { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' }],
];

const text = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A publisher connection on a `ws` socket, which can be cut without a close handshake. */
class CuttablePublisher {
  readonly packets: Packet[] = [];
  readonly ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    const decoder = new Decoder({ protocolVersion: 4 });
    ws.on('message', (data: Buffer) => {
      decoder.push(new Uint8Array(data));
      for (let p = decoder.next(); p; p = decoder.next()) this.packets.push(p);
    });
  }

  static async connect(url: string, clientId: string): Promise<{ pub: CuttablePublisher; sessionPresent: boolean }> {
    const ws = new WebSocket(url, 'mqtt');
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const pub = new CuttablePublisher(ws);
    pub.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: false, keepalive: 0, clientId });
    for (let i = 0; i < 1000 && !pub.packets.length; i++) await sleep(20); // 20 s at most: a loaded machine
    const connack = pub.packets.shift();
    if (connack?.type !== 'connack' || connack.reasonCode !== 0) throw new Error(`no CONNACK: ${JSON.stringify(connack)}`);
    return { pub, sessionPresent: connack.sessionPresent };
  }

  send(packet: Packet): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encode(packet, 4));
  }

  cut(): void {
    this.ws.terminate();
  }
}

describe.each(topologies)('publisher sockets cut mid-stream, %s', (_name, vars) => {
  let server: BrokerServer;
  beforeAll(async () => {
    server = await startBroker({ vars: { ...vars, MQTT_MAX_QUEUED_MESSAGES: '5000' } });
  }, 90_000);
  afterAll(async () => server?.stop());

  for (const qos of [1, 2] as const) {
    it(`QoS ${qos}: no acknowledged message lost${qos === 2 ? ', none twice' : ''}`, async () => {
      const total = 300;
      const rnd = random(qos * 7919);
      const topic = uniqueId(`cut${qos}`);
      const { raw: sub } = await RawClient.connect(server.url, 4);
      const received: string[] = [];
      let subscribed = false;
      sub.onPacket = (p) => {
        if (p.type === 'suback') subscribed = true;
        else if (p.type === 'publish') {
          received.push(new TextDecoder().decode(p.payload));
          if (p.qos === 1) sub.send({ type: 'puback', packetId: p.packetId! });
          if (p.qos === 2) sub.send({ type: 'pubrec', packetId: p.packetId! });
        } else if (p.type === 'pubrel') sub.send({ type: 'pubcomp', packetId: p.packetId });
      };
      sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 2 }] });
      for (let i = 0; i < 500 && !subscribed; i++) await sleep(20);
      expect(subscribed).toBe(true);

      // per message (packet id = index + 1): sent, acknowledged (PUBACK / PUBREC), completed (PUBCOMP)
      const acked = new Set<number>();
      const completed = new Set<number>();
      const clientId = uniqueId('cut-pub');
      let next = 0;
      let cuts = 0;
      let sessions = 0;
      let resent = 0;
      for (let round = 0; round < 40 && (acked.size < total || (qos === 2 && completed.size < total)); round++) {
        const { pub, sessionPresent } = await CuttablePublisher.connect(`${server.url}?gateway=${round % 3}`, clientId);
        if (round > 0) expect(sessionPresent).toBe(true);
        sessions++;
        // resend what the last connection left unacknowledged, then carry on [MQTT-4.4.0-1]
        for (let i = 0; i < next; i++) {
          if (!acked.has(i)) {
            pub.send({ type: 'publish', topic, payload: text(String(i)), qos, packetId: i + 1, retain: false, dup: true });
            resent++;
          } else if (qos === 2 && !completed.has(i)) pub.send({ type: 'pubrel', packetId: i + 1 });
        }
        // 8 cut rounds send at most 8 x 34 = 272 of the 300: every run makes its 8 cuts, and a last
        // session always sends the rest, however fast the broker answered what the cut rounds sent
        const burst = round < 8 ? 10 + Math.floor(rnd() * 25) : total;
        const until = Math.min(total, next + burst);
        for (; next < until; next++) pub.send({ type: 'publish', topic, payload: text(String(next)), qos, packetId: next + 1, retain: false, dup: false });
        const handle = (p: Packet) => {
          if (p.type === 'puback') acked.add(p.packetId - 1);
          if (p.type === 'pubrec') {
            acked.add(p.packetId - 1);
            pub.send({ type: 'pubrel', packetId: p.packetId });
          }
          if (p.type === 'pubcomp') completed.add(p.packetId - 1);
        };
        if (round < 8) {
          // cut after a random share of the answers arrived: some messages are mid-flight. The first
          // cut comes before any answer could be read, so at least one round leaves messages
          // unacknowledged however fast the broker answers.
          if (round > 0) await sleep(5 + Math.floor(rnd() * 60));
          pub.packets.splice(0).forEach(handle);
          pub.cut();
          cuts++;
          await sleep(50);
          continue;
        }
        for (let i = 0; i < 1500 && (acked.size < total || (qos === 2 && completed.size < total)); i++) {
          pub.packets.splice(0).forEach(handle);
          await sleep(20);
        }
        pub.send({ type: 'disconnect' });
        pub.ws.close();
      }
      for (let i = 0; i < 1500 && new Set(received).size < total; i++) await sleep(20);
      await sleep(500); // anything doubled arrives meanwhile

      expect([cuts, acked.size]).toEqual([8, total]);
      if (qos === 2) expect(completed.size).toBe(total);
      const counts = new Map<string, number>();
      for (const r of received) counts.set(r, (counts.get(r) ?? 0) + 1);
      const missing = Array.from({ length: total }, (_, i) => String(i)).filter((m) => !counts.has(m));
      expect(missing).toEqual([]);
      if (qos === 2) expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
      expect(sessions).toBeGreaterThan(cuts);
      expect(resent).toBeGreaterThan(0); // the cuts left messages unacknowledged: they were sent again
      sub.close();
    }, 120_000);
  }
});
