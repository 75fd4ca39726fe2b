// Takeovers across the gateways of a sharded namespace in one process (sharded-world.ts), the
// calls between objects delivered promptly: the e2e takeover storm as a unit test.
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
