// What one connection's input and output may cost an object: packets per WebSocket message (the
// work of one event), bytes held in unfinished packets across connections and how long a packet
// may take to complete, and the size of the messages the broker writes.
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/protocol/index.ts';
import { maxFrameBytes } from '../../src/broker/frames.ts';
import { World, sharded } from './harness.ts';

const publishBytes = (topic: string, size: number) =>
  encode({ type: 'publish', topic, payload: new Uint8Array(size), qos: 0, retain: false, dup: false }, 5);

describe('packets per WebSocket message', () => {
  it('handles maxPacketsPerMessage packets of one message, and ends the connection at one more: v5 DISCONNECT 0x96', async () => {
    const w = new World({ config: { maxPacketsPerMessage: 10 } });
    const c = await w.connect({ version: 5 });
    const ping = encode({ type: 'pingreq' }, 5);
    const many = (n: number) => new Uint8Array(Array.from({ length: n }, () => [...ping]).flat());
    await c.sendBytes(many(10));
    expect(c.received.map((p) => p.type)).toEqual(Array(10).fill('pingresp'));
    c.received.length = 0;
    await c.sendBytes(many(11));
    expect(c.received.map((p) => p.type)).toEqual([...Array(10).fill('pingresp'), 'disconnect']);
    expect(c.received.at(-1)).toMatchObject({ reasonCode: 0x96 });
    expect(c.closed).toBe(true);
  });
});

// a budget per object: sharded, the clients of a test are spread over several gateways
describe.skipIf(sharded)('unfinished packets', () => {
  it('holds at most maxPartialPacketBytes across connections: the one passing it gets DISCONNECT 0x89, the others go on', async () => {
    const w = new World({ config: { maxPartialPacketBytes: 10_000 } });
    const a = await w.connect({ version: 5, clientId: 'a' });
    const b = await w.connect({ version: 5, clientId: 'b' });
    const sub = await w.connect({ version: 5, clientId: 'sub' });
    await sub.subscribe('t/#');
    const pa = publishBytes('t/a', 8_000);
    const pb = publishBytes('t/b', 8_000);
    await a.sendBytes(pa.subarray(0, 5_000));
    await b.sendBytes(pb.subarray(0, 5_000)); // 10,000 bytes plus the chunks' overhead: over
    expect(b.next('disconnect').reasonCode).toBe(0x89);
    expect(w.broker.gateway.partialBytes).toBeLessThan(6_000); // b's bytes were let go
    await a.sendBytes(pa.subarray(5_000));
    expect(sub.next('publish').topic).toBe('t/a');
    expect(w.broker.gateway.partialBytes).toBe(0);
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.sendBytes(pb.subarray(0, 7_000)); // room again
    expect(c.closed).toBe(false);
  });

  it('counts a trickle of tiny messages by the memory each holds, not only its bytes', async () => {
    const w = new World({ config: { maxPartialPacketBytes: 64 * 1024 } });
    const c = await w.connect({ version: 4 });
    const p = publishBytes('t', 4_000);
    for (let i = 0; i < p.length - 1 && !c.closed; i++) await c.sendBytes(p.subarray(i, i + 1));
    expect(c.closed).toBe(true); // 4,000 one-byte messages hold far more than 4,000 bytes
  });

  it('ends a connection whose packet is not complete within partialPacketTimeout, keepalive 0 or not: DISCONNECT 0x8D', async () => {
    const w = new World({ config: { partialPacketTimeout: 30_000 } });
    const c = await w.connect({ version: 5, keepalive: 0 });
    const p = publishBytes('t', 1_000);
    await c.sendBytes(p.subarray(0, 10));
    w.advance(20_000);
    await c.sendBytes(p.subarray(10, 20)); // still trickling: the deadline counts from the first byte
    w.advance(9_999);
    c.expectNothing();
    w.advance(1);
    expect(c.next('disconnect')).toMatchObject({ reasonCode: 0x8d, properties: { reasonString: 'packet not completed in time' } });
  });
});

describe('messages the broker writes', () => {
  it(`joins one event's packets into messages of at most ${maxFrameBytes} bytes, cut between packets`, async () => {
    const w = new World();
    const pub = await w.connect({ clientId: 'pub' });
    for (let i = 0; i < 12; i++) await pub.publish(`r/${i}`, 'x'.repeat(100_000), { retain: true });
    const big = 'y'.repeat(300_000);
    await pub.publish('r/big', big, { retain: true });
    const c = await w.connect({ clientId: 'sub' });
    c.frames.length = 0;
    await c.subscribe('r/#');
    expect(c.received.filter((p) => p.type === 'publish')).toHaveLength(13);
    expect(c.frames.length).toBeGreaterThan(5);
    for (const size of c.frames) expect(size <= maxFrameBytes || size > 300_000).toBe(true); // a packet alone may be larger
    expect(c.frames.reduce((a, b) => a + b, 0)).toBeGreaterThan(1_500_000);
  });
});
