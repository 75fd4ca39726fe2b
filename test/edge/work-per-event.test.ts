// The work one event may cost, on the real SQLite store: rows read by one SUBSCRIBE, however
// many filters it names or retained messages there are. Production kills an event after 30 s of
// CPU and a busy event stalls every other client of the object; workerd does not enforce the
// former locally, so the rows are counted and held to the configured budget.
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/broker/index.ts';
import { encode, type Packet } from '../../src/protocol/index.ts';
import { WsClient } from './ws-client.ts';

let n = 0;
const namespace = () => `work-${++n}-${Date.now()}`;
const rowsRead = async (ns: string) => (await env.BROKER.getByName(ns).unitsOf([])).broker!.units.rowsRead;
const join = (packets: Packet[]) => {
  const parts = packets.map((p) => encode(p, 5));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
};

describe('work per event', { timeout: 60_000 }, () => {
  it('reads at most maxRetainedScanPerSubscribe rows for 256 filters +/nomatchN over 5,000 retained messages of 4 KB', async () => {
    const ns = namespace();
    const pub = await WsClient.open(`/mqtt/${ns}`);
    await pub.connect('pub');
    for (let batch = 0; batch < 100; batch++) {
      pub.ws.send(join(Array.from({ length: 50 }, (_, i) => ({
        type: 'publish', topic: `ret/${batch}/${i}`, payload: new Uint8Array(4096), qos: 0, retain: true, dup: false,
      }))));
    }
    pub.send({ type: 'pingreq' }); // answered once every batch before it was handled
    expect(await pub.next(30_000)).toMatchObject({ type: 'pingresp' });
    const sub = await WsClient.open(`/mqtt/${ns}`);
    await sub.connect('sub');
    const before = await rowsRead(ns);
    sub.send({
      type: 'subscribe', packetId: 1,
      subscriptions: Array.from({ length: 256 }, (_, i) => ({ topicFilter: `+/nomatch${i}`, qos: 0 })),
    });
    expect(await sub.next(30_000)).toMatchObject({ type: 'suback' });
    expect(await rowsRead(ns) - before).toBeLessThanOrEqual(defaultConfig.maxRetainedScanPerSubscribe + 1_000);
  });

  it('refuses a SUBSCRIBE of 100,000 filters from a client holding 255 at no row reads: DISCONNECT 0x97', async () => {
    const ns = namespace();
    const c = await WsClient.open(`/mqtt/${ns}`);
    await c.connect('c', { properties: { sessionExpiryInterval: 3600 } }); // kept: ending it would read its rows
    c.send({ type: 'subscribe', packetId: 1, subscriptions: Array.from({ length: 255 }, (_, i) => ({ topicFilter: `h/${i}`, qos: 0 })) });
    expect(await c.next()).toMatchObject({ type: 'suback' });
    const before = await rowsRead(ns);
    c.send({ type: 'subscribe', packetId: 2, subscriptions: Array.from({ length: 100_000 }, (_, i) => ({ topicFilter: `f/${i}`, qos: 0 })) });
    expect(await c.next(10_000)).toMatchObject({ type: 'disconnect', reasonCode: 0x97 });
    expect(await rowsRead(ns) - before).toBeLessThan(50);
  });
});
