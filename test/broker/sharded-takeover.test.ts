// Takeovers across the gateways of a sharded namespace in one process (sharded-world.ts): the e2e
// takeover storm with the calls between objects delivered promptly, and a race step by step.
import { describe, expect, it } from 'vitest';
import { connectPacket, World } from './harness.ts';

const topology = { gateways: 3, shards: 2, sessions: 2 };
const persistent = { version: 5 as const, clientId: 'dev', clean: false, properties: { sessionExpiryInterval: 3600 } };

describe('sharded takeover', () => {
  it('answers simultaneous CONNECTs of one client id, two on one gateway; one stays, with the session [MQTT-3.1.4-3]', async () => {
    const w = new World({ topology });
    const first = await w.connect({ ...persistent, gateway: 1 });
    await first.subscribe('t', 1);
    const storm = [0, 0, 1, 2].map((g) => w.client(5, g));
    await Promise.all(storm.map((c) => c.send(connectPacket(persistent))));
    await w.settle();
    expect(first.closed).toBe(true);
    for (const c of storm) expect(c.received[0]).toMatchObject({ type: 'connack', reasonCode: 0, sessionPresent: true });
    const live = storm.filter((c) => !c.closed);
    expect(live).toHaveLength(1);
    for (const c of storm.filter((k) => k.closed)) expect(c.received.at(-1)).toMatchObject({ type: 'disconnect', reasonCode: 0x8e });
    const pub = await w.connect({ clientId: 'pub', gateway: 2 });
    await pub.publish('t', 'after the storm', { qos: 1 });
    expect(live[0].received.filter((p) => p.type === 'publish')).toHaveLength(1);
    // every gateway still accepts
    for (const g of [0, 1, 2]) await w.connect({ clientId: `after${g}`, gateway: g });
  });
});

describe('sharded takeover, step by step', () => {
  // FAILS on main at 27db6dd (interleaving seed 31): unskip once Gateway.takeOver waits for the
  // claim of the connection it ends even when that connection closed already
  it.skip('keeps the session when the connection it is lent to closes during its CONNECT and another claims it [MQTT-3.1.4-3]', async () => {
    const w = new World({ topology, manual: true });
    const calls = w.sharded!.scheduler;
    const settled = async <T>(work: Promise<T>): Promise<T> => {
      await calls.runUntil();
      return work;
    };
    const first = w.client(5, 2);
    await settled(first.send(connectPacket(persistent)));
    first.next('connack');
    expect(await settled(first.subscribe('t', 1))).toEqual([1]);
    // c2 claims the session on gateway 2; once the session object answered, c2 closes, its shards not yet told
    const closing = w.client(5, 2);
    void closing.send(connectPacket(persistent));
    await calls.runUntil('attach dev/c2 answered');
    closing.conn.lost();
    // c3 claims it on the same gateway; every call runs but c2's call to its shard, as long as any other can
    const next = w.client(5, 2);
    const answered = next.send(connectPacket(persistent));
    const other = async () => {
      await new Promise((resolve) => setImmediate(resolve)); // the calls this CONNECT makes
      return calls.labels().find((l) => !l.includes('subscribe dev@2'));
    };
    for (let label = await other(); label; label = await other()) {
      await calls.deliver(label);
      if (calls.trace.some((l) => l.endsWith('attach dev/c3 answered'))) break;
    }
    await settled(answered);
    expect(next.next('connack')).toMatchObject({ reasonCode: 0, sessionPresent: true });
    // c3 holds the session: a message reaches it, and the next CONNECT takes it over
    const pub = w.client(4, 1);
    await settled(pub.send(connectPacket({ clientId: 'pub' })));
    expect(pub.next('connack').reasonCode).toBe(0);
    await settled(pub.publish('t', 'to c3', { qos: 1 }));
    expect(next.received.filter((p) => p.type === 'publish')).toHaveLength(1);
    await settled(w.client(5, 0).send(connectPacket(persistent)));
    expect(next.closed).toBe(true);
  });
});
