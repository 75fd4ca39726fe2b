// break13: adversarial checks of the QoS 2 message ids (Message.id, SessionStore.recognise) of the
// sharded topology (docs/ARCHITECTURE.md, "Exactly once across a kill"). Each case says what the
// spec asks; the ones marked `it.fails` are defects found here (the report says why).
import { describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/protocol/index.ts';
import { str, World, type VirtualClient } from './harness.ts';

const sharded = { gateways: 3, shards: 2, sessions: 2 };
const session = { version: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } };

/** Every PUBLISH the client got, answered as a QoS 2 receiver does; returns "payload[sub ids]" each. */
async function drain(c: VirtualClient): Promise<string[]> {
  const got: string[] = [];
  for (let round = 0; round < 10 && c.received.length; round++) {
    for (let p = c.received.shift(); p; p = c.received.shift()) {
      if (p.type === 'publish') {
        const pub = p as PublishPacket;
        got.push(`${str(pub.payload)}[${(pub.properties?.subscriptionIdentifiers ?? []).join(',')}]`);
        if (pub.qos === 2) await c.send({ type: 'pubrec', packetId: pub.packetId! });
        else if (pub.qos === 1) await c.send({ type: 'puback', packetId: pub.packetId! });
      } else if (p.type === 'pubrel') await c.send({ type: 'pubcomp', packetId: p.packetId });
    }
  }
  return got.sort();
}

async function publishQoS2(pub: VirtualClient, topic: string, payload: string, packetId: number): Promise<void> {
  await pub.publish(topic, payload, { qos: 2, packetId });
  expect(pub.next('pubrec')).toMatchObject({ packetId });
  await pub.send({ type: 'pubrel', packetId });
  expect(pub.next('pubcomp')).toMatchObject({ packetId });
}

describe('break13: one message, several deliveries to one session in one routing (no restart)', () => {
  // MQTT 5 §4.8.2: "If the Client has a Shared Subscription and a Non-shared Subscription and a
  // message matches both of them, the Client will receive a copy of the message by virtue of it
  // having the Non-shared Subscription. A second copy of the message will be delivered to one of
  // the subscribers to the Shared Subscription, and this could result in a second copy being
  // delivered to this Client." The shard routes two deliveries to the one session; both carry the
  // same Message.id, and the second is taken for a copy sent again after a restart and dropped.
  for (const [name, topology] of [['default', { gateways: 1, shards: 1, sessions: 1 }], ['sharded', sharded]] as const) {
    const run = name === 'sharded' && !process.env.SHOW ? it.fails : it;
    run(`${name}: a non-shared and a shared subscription of one session, QoS 2 from a persistent publisher: two copies`, async () => {
      const w = new World({ topology });
      const sub = await w.connect({ ...session, clientId: 'sub', gateway: 1 });
      expect(await sub.subscribe('t', 2, {}, { subscriptionIdentifiers: [1] })).toEqual([2]);
      expect(await sub.subscribe('$share/g/t', 2, {}, { subscriptionIdentifiers: [2] })).toEqual([2]);
      const pub = await w.connect({ ...session, clientId: 'pub', gateway: 0 });
      await publishQoS2(pub, 't', 'x', 5);
      await w.settle();
      expect(await drain(sub)).toEqual(['x[1]', 'x[2]']);
    });

    run(`${name}: one session in two share groups, QoS 2 from a persistent publisher: one copy per group`, async () => {
      const w = new World({ topology });
      const sub = await w.connect({ ...session, clientId: 'sub', gateway: 1 });
      expect(await sub.subscribe('$share/a/t', 2, {}, { subscriptionIdentifiers: [1] })).toEqual([2]);
      expect(await sub.subscribe('$share/b/t', 2, {}, { subscriptionIdentifiers: [2] })).toEqual([2]);
      const pub = await w.connect({ ...session, clientId: 'pub', gateway: 0 });
      await publishQoS2(pub, 't', 'x', 5);
      await w.settle();
      expect(await drain(sub)).toEqual(['x[1]', 'x[2]']);
    });

    // the same, with the subscriber away: its session object (or gateway) queues both
    run(`${name}: the same session away (queued), a non-shared and a shared subscription: two copies on return`, async () => {
      const w = new World({ topology });
      const sub = await w.connect({ ...session, clientId: 'sub', gateway: 1 });
      expect(await sub.subscribe('t', 2, {}, { subscriptionIdentifiers: [1] })).toEqual([2]);
      expect(await sub.subscribe('$share/g/t', 2, {}, { subscriptionIdentifiers: [2] })).toEqual([2]);
      await sub.send({ type: 'disconnect', reasonCode: 0 });
      await w.settle();
      const pub = await w.connect({ ...session, clientId: 'pub', gateway: 0 });
      await publishQoS2(pub, 't', 'x', 5);
      await w.settle();
      const back = await w.connect({ ...session, clientId: 'sub', gateway: 2 });
      await w.settle();
      expect(await drain(back)).toEqual(['x[1]', 'x[2]']);
    });
  }
});
