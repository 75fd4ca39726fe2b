// Messages a gateway keeps for a client whose claim is in progress there (sharded topology,
// SessionHost.keepFor) are bounded: per client by maxQueuedMessages, as its queue will be, and for
// the gateway in payload bytes. Beyond, they are dropped and counted as queue-full; what was kept
// reaches the client once its session arrived, in order.
import { describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/protocol/index.ts';
import { keptBytesFactor } from '../../src/broker/roles/session-host.ts';
import { connectPacket, str, World } from './harness.ts';

const session = { version: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } };

async function arriving(config: { maxQueuedMessages: number; maxQueuedBytes: number }, messages: number, size: number) {
  const w = new World({ topology: { gateways: 3, shards: 2, sessions: 2 }, manual: true, config });
  const calls = w.sharded!.scheduler;
  const connect = (clientId: string, gateway: number) => w.connect({ ...session, clientId, gateway });
  const first = await connect('sub', 1);
  const subscribed = first.subscribe('t', 1);
  await calls.runUntil();
  expect(await subscribed).toEqual([1]);
  await first.send({ type: 'disconnect', reasonCode: 0 });
  await calls.runUntil();
  const pub = await connect('pub', 0);

  // the subscriber comes back on gateway 2; its claim's answer is held while the messages flow
  const sub = w.client(5, 2);
  void sub.send(connectPacket({ ...session, clientId: 'sub' }));
  const held = (label: string) => label.includes('attach sub') && label.includes('answered');
  const runOthers = async () => {
    for (let i = 0; i < 10_000; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      const next = calls.labels().find((l) => !held(l));
      if (next === undefined) return;
      await calls.deliver(next);
    }
  };
  await runOthers();
  expect(calls.labels().filter(held)).toHaveLength(1);
  for (let i = 0; i < messages; i++) void pub.publish('t', `${i}`.padEnd(size, '.'), { qos: 1, packetId: i + 1 });
  await runOthers();
  const dropped = w.dropped('queue-full');
  await calls.runUntil();
  expect(sub.next('connack')).toMatchObject({ reasonCode: 0, sessionPresent: true });
  const got = sub.received.filter((p): p is PublishPacket => p.type === 'publish').map((p) => Number.parseInt(str(p.payload)));
  return { got, dropped };
}

describe('messages kept for an arriving client (sharded)', () => {
  it('up to maxQueuedMessages per client; the rest dropped and counted, the kept ones delivered in order', async () => {
    const { got, dropped } = await arriving({ maxQueuedMessages: 5, maxQueuedBytes: 8 * 1024 * 1024 }, 12, 1);
    expect(got).toEqual([0, 1, 2, 3, 4]);
    expect(dropped).toBe(7);
  });

  it(`up to ${keptBytesFactor} x maxQueuedBytes of payload for the gateway`, async () => {
    const size = 1000;
    const { got, dropped } = await arriving({ maxQueuedMessages: 1000, maxQueuedBytes: 2500 }, 10, size);
    const fits = Math.floor((keptBytesFactor * 2500) / size);
    expect(got).toEqual([...Array(fits).keys()]);
    expect(dropped).toBe(10 - fits);
  });
});
