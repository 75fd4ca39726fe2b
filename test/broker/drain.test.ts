// A persistent session's offline queue drained in turns: the CONNECT's event marks sent and sends
// one page (CONNACK and that page wait only for that write), each later turn of the object 4 times
// as many pages, until the window is full or the queue empty (session.ts, pump). Default topology
// with its turns held (`holdTurns`, run one by one with `w.turn()`), and the sharded topology, whose
// gateway's turns are steps among the calls between objects (`a drain's next turn`).
import { describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/protocol/index.ts';
import { connectPacket, str, World, type VirtualClient } from './harness.ts';

const single = { gateways: 1, shards: 1, sessions: 1 };
/** A persistent MQTT 5 session with a Receive Maximum of 65,535 (MQTT.js 5 sends it): the window is no bound. */
const persistent = (receiveMaximum = 65_535) => ({
  version: 5 as const, clientId: 'sub', clean: false, properties: { sessionExpiryInterval: 3600, receiveMaximum },
});

/** Queues `count` messages on topic t (QoS `qos`) for the session of 'sub', away. */
async function queue(w: World, count: number, qos: 1 | 2, gateway?: number): Promise<void> {
  const sub = await w.connect({ ...persistent(), gateway });
  await w.settled(sub.subscribe('t', qos)); // manual mode: once the calls it makes ran
  await w.settled(sub.send({ type: 'disconnect', reasonCode: 0 }));
  const pub = await w.connect({ clientId: 'pub', gateway });
  for (let i = 0; i < count; i++) await w.settled(pub.publish('t', String(i), { qos, packetId: (i % 60_000) + 1 }));
  await w.settled(w.settle());
}

const publishes = (c: VirtualClient): PublishPacket[] => c.received.filter((p): p is PublishPacket => p.type === 'publish');
const sentRows = (w: World): number => w.sessions.outbound('sub').filter((e) => e.state === 'sent').length;

describe('an offline queue drained in turns, default topology', () => {
  it('CONNACK and the first page leave from the CONNECT\'s event with only that page marked sent; the rest follow in turns [MQTT-4.4.0-1]', async () => {
    const w = new World({ topology: single, holdTurns: true });
    await queue(w, 1_000, 1);
    while (w.turn());
    const sub = w.client(5);
    await sub.send(connectPacket(persistent()));
    expect(sub.next('connack').sessionPresent).toBe(true);
    // the CONNECT's event: one page, and one page of rows marked sent (the old drain marked all 1,000)
    expect([publishes(sub).length, sentRows(w)]).toEqual([128, 128]);
    while (w.turn()) expect(sentRows(w)).toBe(publishes(sub).length); // each turn marks sent what it sends
    expect(sentRows(w)).toBe(1_000);
    expect(publishes(sub).map((p) => str(p.payload))).toEqual(Array.from({ length: 1_000 }, (_, i) => String(i)));
    const stored = new Map(w.sessions.outbound('sub').map((e) => [str(e.message.payload), e.packetId]));
    expect(publishes(sub).every((p) => stored.get(str(p.payload)) === p.packetId && !p.dup)).toBe(true);
  });

  it('sends 4 times as many pages each turn: 1,000 messages in three events, not one', async () => {
    const w = new World({ topology: single, holdTurns: true });
    await queue(w, 1_000, 1);
    while (w.turn());
    const sub = w.client(5);
    await sub.send(connectPacket(persistent()));
    const counts = [publishes(sub).length];
    while (w.turn()) counts.push(publishes(sub).length - counts.reduce((a, b) => a + b, 0));
    expect(counts).toEqual([128, 512, 360]);
    expect(sub.frames.length).toBe(3); // one WebSocket message per turn
  });

  it('messages published while the queue drains go after it [MQTT-4.6.0-6]', async () => {
    const w = new World({ topology: single, holdTurns: true });
    await queue(w, 500, 1);
    while (w.turn());
    const sub = w.client(5);
    await sub.send(connectPacket(persistent()));
    const pub = await w.connect({ clientId: 'pub2' });
    await pub.publish('t', 'new 1', { qos: 1 });
    w.turn();
    await pub.publish('t', 'new 2', { qos: 1 });
    await pub.publish('t', 'new 3', { qos: 0 });
    while (w.turn());
    const got = publishes(sub).map((p) => str(p.payload));
    const qos1 = got.filter((p) => p !== 'new 3');
    expect(qos1).toEqual([...Array.from({ length: 500 }, (_, i) => String(i)), 'new 1', 'new 2']);
  });

  it('never has more in flight than the client\'s Receive Maximum; acknowledgements refill it [MQTT-3.3.4-7]', async () => {
    const w = new World({ topology: single, holdTurns: true });
    await queue(w, 1_000, 1);
    while (w.turn());
    const sub = w.client(5);
    await sub.send(connectPacket(persistent(300)));
    while (w.turn());
    expect(publishes(sub)).toHaveLength(300);
    for (let acked = 0; acked < 1_000;) {
      const got = publishes(sub);
      for (const p of got.slice(acked)) await sub.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
      acked = got.length;
      while (w.turn());
      expect(publishes(sub).length - acked).toBeLessThanOrEqual(300);
      if (publishes(sub).length === acked) break;
    }
    expect(publishes(sub).map((p) => str(p.payload))).toEqual(Array.from({ length: 1_000 }, (_, i) => String(i)));
    expect(w.sessions.outboundCount('sub')).toBe(0); // every acknowledged message deleted
  });

  it('a takeover between two turns at QoS 2: the next connection gets what was in flight again (DUP, same ids), then the rest, none twice [MQTT-4.3.3]', async () => {
    const w = new World({ topology: single, holdTurns: true });
    await queue(w, 1_000, 2);
    while (w.turn());
    const first = w.client(5);
    await first.send(connectPacket(persistent()));
    w.turn(); // a second turn: 128 + 512 in flight, unacknowledged
    const inFlight = publishes(first);
    expect(inFlight).toHaveLength(640);
    const second = w.client(5);
    await second.send(connectPacket(persistent())); // takes over; the first's next turn finds it closed
    expect(first.closed).toBe(true);
    while (w.turn());
    const again = publishes(second);
    expect(again.slice(0, 640).map((p) => [str(p.payload), p.packetId, p.dup])).toEqual(inFlight.map((p) => [str(p.payload), p.packetId, true]));
    expect(again.slice(640).every((p) => !p.dup)).toBe(true);
    // a QoS 2 receiver keeps one copy per packet id: every message once, in order
    const once = new Map(again.map((p) => [p.packetId, str(p.payload)]));
    expect([...once.values()]).toEqual(Array.from({ length: 1_000 }, (_, i) => String(i)));
    expect(again).toHaveLength(1_000);
  });

  it('a restart between two turns: the queue stays, what was sent is sent again with DUP, nothing is lost', async () => {
    const w = new World({ topology: single, holdTurns: true });
    await queue(w, 600, 1);
    while (w.turn());
    const first = w.client(5);
    await first.send(connectPacket(persistent()));
    const sent = publishes(first).length;
    await w.restart(); // the pending turn is lost with the process
    const back = w.client(5);
    await back.send(connectPacket(persistent()));
    while (w.turn());
    const got = publishes(back);
    expect(got.slice(0, sent).every((p) => p.dup)).toBe(true);
    expect(got.map((p) => str(p.payload))).toEqual(Array.from({ length: 600 }, (_, i) => String(i)));
  });
});

describe('an offline queue drained in turns, sharded topology', () => {
  it('the gateway drains a session it claimed in turns of its own, in order, each message once', async () => {
    const w = new World({ topology: { gateways: 2, shards: 2, sessions: 2 } });
    await queue(w, 700, 1, 0);
    const sub = w.client(5, 1);
    await sub.send(connectPacket(persistent()));
    await w.settle();
    expect(sub.next('connack').sessionPresent).toBe(true);
    expect(publishes(sub).map((p) => str(p.payload))).toEqual(Array.from({ length: 700 }, (_, i) => String(i)));
    // 128 from the CONNECT's event, then 512 and 60 in two later turns
    expect(w.sharded!.scheduler.trace.filter((l) => l === 'gateway 1: a drain\'s next turn')).toHaveLength(2);
  });
});
