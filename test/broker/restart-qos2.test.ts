// QoS 2 across a restart of the whole server between the steps of one publish, step by step: the
// unit form of test/e2e/kill-restart.test.ts (issue 13). A publisher with a persistent session
// sends a QoS 2 message; the server restarts at a chosen step; both clients resume their sessions
// and carry on as the spec says (the publisher sends the PUBLISH again with DUP=1 until it gets a
// PUBREC [MQTT-4.4.0-1]). The subscriber must get the message once [MQTT-4.3.3].
import { describe, expect, it } from 'vitest';
import type { Packet, PublishPacket } from '../../src/protocol/index.ts';
import { str, World, type VirtualClient } from './harness.ts';

const session = { version: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } };

/** The subscriber's half of QoS 2: a message counts once per packet id awaiting PUBREL [MQTT-4.3.3-9..-12]. */
class Receiver {
  readonly got: string[] = [];
  private readonly awaitingRel = new Set<number>();

  /** Answers what the client received, as a client does; the packets it sends go to the broker. */
  async answer(c: VirtualClient): Promise<void> {
    for (let p = c.received.shift(); p; p = c.received.shift()) await this.one(c, p);
  }

  private async one(c: VirtualClient, p: Packet): Promise<void> {
    if (p.type === 'publish') {
      const { packetId, payload } = p as PublishPacket;
      if (!this.awaitingRel.has(packetId!)) this.got.push(str(payload));
      this.awaitingRel.add(packetId!);
      await c.send({ type: 'pubrec', packetId: packetId! });
    } else if (p.type === 'pubrel') {
      this.awaitingRel.delete(p.packetId);
      await c.send({ type: 'pubcomp', packetId: p.packetId });
    }
  }
}

describe('QoS 2 across a restart of the server mid-publish', () => {
  it('default topology: the id and the delivery are stored in the one event of the PUBLISH', async () => {
    const w = new World({ topology: { gateways: 1, shards: 1, sessions: 1 } });
    const receiver = new Receiver();
    const sub = await w.connect({ ...session, clientId: 'sub' });
    await sub.subscribe('t', 2);
    const pub = await w.connect({ ...session, clientId: 'pub' });
    await pub.publish('t', 'once', { qos: 2, packetId: 7 });
    // both writes were made by the time the PUBLISH was handled: a restart now keeps both
    expect(w.sessions.hasIncoming('pub', 7)).toBe(true);
    expect(w.sessions.outbound('sub').map((o) => str(o.message.payload))).toEqual(['once']);
    await w.restart();
    const sub2 = await w.connect({ ...session, clientId: 'sub' });
    await receiver.answer(sub2);
    await receiver.answer(sub2);
    const pub2 = await w.connect({ ...session, clientId: 'pub' });
    await pub2.publish('t', 'once', { qos: 2, packetId: 7, dup: true });
    expect(pub2.next('pubrec')).toMatchObject({ packetId: 7 });
    await receiver.answer(sub2);
    expect(receiver.got).toEqual(['once']);
  });

  // In the sharded topology the message is stored for the subscriber by its gateway (one object)
  // before the publisher's gateway (another) records the QoS 2 packet id as received, on the
  // shard's answer. A restart between the two keeps the delivery and loses the answer: the
  // publisher's gateway recorded the message's id before it left, routes the DUP resend again
  // under it, and the subscriber's session, moved to another gateway meanwhile, recognises it.
  it('sharded: a restart after the subscriber\'s gateway stored the message, before the shard answered the publisher\'s', async () => {
    const w = new World({ topology: { gateways: 3, shards: 2, sessions: 2 }, manual: true });
    const calls = w.sharded!.scheduler;
    const settled = <T>(work: Promise<T>) => w.settled(work);
    const connect = (clientId: string, gateway: number) => w.connect({ ...session, clientId, gateway });
    const receiver = new Receiver();
    const sub = await connect('sub', 2);
    expect(await settled(sub.subscribe('t', 2))).toEqual([2]);
    const pub = await connect('pub', 0);
    void pub.publish('t', 'once', { qos: 2, packetId: 7 });
    await calls.runUntil('gateway2.deliver t=once→sub answered');
    expect(receiver.got).toEqual([]);
    await receiver.answer(sub);
    expect(receiver.got).toEqual(['once']);
    // the kill: the shard's answer to gateway 0 is lost with everything else on its way
    expect(calls.lose().join()).toMatch(/shard\d\.publish t=once answered/);
    await w.restart();
    const sub2 = await connect('sub', 1);
    await receiver.answer(sub2);
    await settled(Promise.resolve());
    await receiver.answer(sub2);
    await settled(Promise.resolve());
    const pub2 = await connect('pub', 1);
    await settled(pub2.publish('t', 'once', { qos: 2, packetId: 7, dup: true }));
    expect(pub2.next('pubrec')).toMatchObject({ packetId: 7 });
    await settled(Promise.resolve());
    await receiver.answer(sub2);
    expect(receiver.got).toEqual(['once']);
  });

  // Every step: the stream is cut by a restart after k calls between objects ran (k = 0, 1, 2, …
  // until a whole stream runs with none left). Both clients answer as they go, come back on other
  // gateways and carry on as the spec says; each message must arrive once.
  it('sharded: a restart after any step of a QoS 2 stream, each message once', async () => {
    const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
    const messages = ['m1', 'm2', 'm3', 'm4'];
    let restarts = 0;
    for (let k = 0; k < 500; k++) {
      const w = new World({ topology: { gateways: 3, shards: 2, sessions: 2 }, manual: true });
      const calls = w.sharded!.scheduler;
      const connect = (clientId: string, gateway: number) => w.connect({ ...session, clientId, gateway });
      const receiver = new Receiver();
      const publisher = new Publisher(messages);
      const sub = await connect('sub', 2);
      const subscribed = sub.subscribe('t', 2);
      await calls.runUntil();
      expect(await subscribed).toEqual([2]);
      const pub = await connect('pub', 0);
      let ran = 0;
      let whole = false;
      for (let turn = 0; ran < k && turn < 1000; turn++) {
        publisher.sendNext(pub); // one PUBLISH between steps: each in calls of its own
        await tick(); // handled: its calls wait for the scheduler (a kill stops everything else)
        if (calls.step()) ran++;
        else if ((whole = publisher.allSent())) break;
        await tick();
        await receiver.answer(sub);
        publisher.answer(pub);
      }
      if (whole) { // the stream ran whole before the k-th step: every cut point was tried
        expect(receiver.got).toEqual(messages);
        break;
      }
      publisher.sendNext(pub);
      await tick();
      calls.lose();
      await w.restart();
      restarts++;
      const sub2 = await connect('sub', 1);
      const pub2 = await connect('pub', 1);
      publisher.resume(pub2);
      for (let round = 0; round < 20 && (publisher.pending() || calls.pending || sub2.received.length); round++) {
        await calls.runUntil();
        await receiver.answer(sub2);
        publisher.answer(pub2);
      }
      expect({ k, got: [...receiver.got].sort(), pending: publisher.pending() }).toEqual({ k, got: messages, pending: 0 });
    }
    expect(restarts).toBeGreaterThanOrEqual(8); // cut points tried: each publish call, delivery and answer
  });
});

/** The publisher's half of QoS 2 for a few messages: packet id i + 1 for message i [MQTT-4.3.3-1..-8]. */
class Publisher {
  private readonly acknowledged = new Set<number>();
  private readonly completed = new Set<number>();
  private readonly messages: string[];

  constructor(messages: string[]) {
    this.messages = messages;
  }

  private sent = 0;

  /** Sends the next message, if any is left. */
  sendNext(c: VirtualClient): void {
    if (this.sent < this.messages.length) void c.publish('t', this.messages[this.sent], { qos: 2, packetId: ++this.sent });
  }

  /**
   * After a reconnect: PUBLISH again with DUP what got no PUBREC, PUBREL what got no PUBCOMP
   * [MQTT-4.4.0-1], then the messages never sent.
   */
  resume(c: VirtualClient): void {
    this.messages.slice(0, this.sent).forEach((m, i) => {
      if (!this.acknowledged.has(i + 1)) void c.publish('t', m, { qos: 2, packetId: i + 1, dup: true });
      else if (!this.completed.has(i + 1)) void c.send({ type: 'pubrel', packetId: i + 1 });
    });
    while (this.sent < this.messages.length) this.sendNext(c);
  }

  answer(c: VirtualClient): void {
    for (let p = c.received.shift(); p; p = c.received.shift()) {
      if (p.type === 'pubrec') {
        this.acknowledged.add(p.packetId);
        void c.send({ type: 'pubrel', packetId: p.packetId });
      } else if (p.type === 'pubcomp') this.completed.add(p.packetId);
    }
  }

  allSent(): boolean {
    return this.sent === this.messages.length;
  }

  /** Messages not completed yet. */
  pending(): number {
    return this.messages.length - this.completed.size;
  }
}
