// The form batches of messages take in calls between objects (src/broker/packed.ts): what goes in
// comes out, a batch is a few objects whatever its size, and FabricCore's calls keep their bounds.
import { serialize } from 'node:v8';
import { describe, expect, it, vi } from 'vitest';
import { FabricCore, type Directory } from '../../src/broker/fabric-core.ts';
import { countOf, packAnswers, packMessages, packRouted, unpackMessages, unpackRouted, viewBytes, type PackedAnswers, type PackedMessages } from '../../src/broker/packed.ts';
import { pageBytes } from '../../src/broker/remote.ts';
import type { Message } from '../../src/broker/index.ts';

const text = (s: string) => new TextEncoder().encode(s);

/** Objects a structured clone of `value` writes (arrays, typed arrays and plain objects), strings excepted. */
function objects(value: unknown, seen = new Set<object>()): number {
  if (typeof value !== 'object' || value === null || seen.has(value)) return 0;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return 1;
  return 1 + Object.values(value).reduce((n: number, v) => n + objects(v, seen), 0);
}

describe('packed messages', () => {
  it('carry every field of a message, and nothing a message did not have', () => {
    const messages: Message[] = [
      { topic: 'a/b', payload: text('one'), qos: 0, retain: false },
      {
        topic: 'ä/€/𝄞', payload: new Uint8Array(), qos: 2, retain: true, publisher: 'p1', refusable: true, again: true,
        id: 2 ** 53 - 1, stamp: 1_780_000_000_000 * 1024 + 5, expiresAt: 1_780_000_060_000,
        properties: { contentType: 'text/plain', correlationData: text('c'), userProperties: [['k', 'v']], payloadFormatIndicator: 1 },
      },
      { topic: 'a/b', payload: text('three'), qos: 1, retain: false, publisher: 'p2', expiresAt: 0 },
      { topic: 'a/b', payload: text('four'), qos: 1, retain: false, publisher: 'p1' },
    ];
    const back = unpackMessages(structuredClone(packMessages(messages)));
    expect(back).toEqual(messages);
    expect(back.map((m) => Object.keys(m).sort())).toEqual(messages.map((m) => Object.keys(m).sort()));
    expect(unpackMessages(packMessages([]))).toEqual([]);
  });

  it('keep shared deliveries lists shared, and each message with its own', () => {
    const near = [{ clientId: 'a', qos: 1, retainAsPublished: false, identifiers: [3] }];
    const far = [{ clientId: 'b', qos: 0, retainAsPublished: true, identifiers: [], share: 'g/t/#', connectionId: 'c1' }];
    const msg = (s: string): Message => ({ topic: 't', payload: text(s), qos: 1, retain: false, stamp: 7 });
    const batch = [{ message: msg('1'), deliveries: near }, { message: msg('2'), deliveries: far }, { message: msg('3'), deliveries: near }];
    const packed = packRouted(batch);
    expect(packed.lists).toHaveLength(2);
    const back = unpackRouted(structuredClone(packed));
    expect(back).toEqual(batch);
    expect(back[2].deliveries).toBe(back[0].deliveries);
  });

  it('give views of one buffer in a batch up to viewBytes, a copy of its own to each payload in a larger one', () => {
    const small = unpackMessages(packMessages([1, 2, 3].map((i) => ({ topic: 't', payload: new Uint8Array(100).fill(i), qos: 0, retain: false }))));
    expect(new Set(small.map((m) => m.payload.buffer)).size).toBe(1);
    expect(small.map((m) => m.payload[0])).toEqual([1, 2, 3]);
    const big = unpackMessages(packMessages([1, 2, 3].map((i) => ({ topic: 't', payload: new Uint8Array(viewBytes / 2).fill(i), qos: 0, retain: false }))));
    expect(new Set(big.map((m) => m.payload.buffer)).size).toBe(3);
    expect(big.map((m) => [m.payload.byteLength, m.payload.buffer.byteLength, m.payload[0]])).toEqual([1, 2, 3].map((i) => [viewBytes / 2, viewBytes / 2, i]));
  });

  it('are a few objects whatever the batch holds: 100 messages of 64 bytes a deliver call clones 12 objects (was 304) and 110 bytes a message (was 172)', () => {
    const frame = new Uint8Array(100 * 80);
    const messages: Message[] = Array.from({ length: 100 }, (_, i) => ({
      topic: 'bench/t', payload: frame.subarray(i * 80, i * 80 + 64), qos: 0, retain: false, publisher: `pub-${i % 4}`, stamp: 1e15 + i,
    }));
    const deliveries = [{ clientId: 'sub', qos: 0, retainAsPublished: false, identifiers: [] }];
    const routed = packRouted(messages.map((message) => ({ message, deliveries })));
    expect(objects(routed)).toBe(12);
    expect(serialize(routed).length / 100).toBeLessThan(112);
    expect(serialize(packMessages(messages)).length / 100).toBeLessThan(112);
  });
});

describe('FabricCore calls', () => {
  /** A gateway's fabric whose shard 0 records each publish call's packed messages and answers at once. */
  function recorder() {
    const calls: PackedMessages[] = [];
    const none = () => {
      throw new Error('not called here');
    };
    const directory: Directory = {
      shard: () => ({
        publish: async (packed) => {
          calls.push(packed);
          const messages = unpackMessages(packed);
          return packAnswers(messages, messages.map(() => 0), [], new Set(), []);
        },
        subscribe: none, unsubscribe: none, leave: none,
      }),
      gateway: () => ({ deliver: none, takeover: none }),
      session: () => ({ attach: none, page: none, abandon: none, stage: none, detach: none, enqueue: none }),
    };
    return { calls, fabric: new FabricCore(directory, { gateways: 1, shards: 1, sessions: 1 }, { role: 'gateway', index: 0 }) };
  }

  it('carry at most 1,024 messages a call, in order', async () => {
    const { calls, fabric } = recorder();
    const sent = Array.from({ length: 2500 }, (_, i) => fabric.shards.publish({ topic: 't', payload: text(String(i)), qos: 0, retain: false }));
    await Promise.all(sent);
    expect(calls.map(countOf)).toEqual([1024, 1024, 452]);
    // a call is 5 objects, not a message object and a payload view per message (2,049 before)
    expect(calls.map((c) => objects(c))).toEqual([5, 5, 5]);
    const payloads = calls.flatMap((c) => unpackMessages(c).map((m) => new TextDecoder().decode(m.payload)));
    expect(payloads).toEqual(Array.from({ length: 2500 }, (_, i) => String(i)));
  });

  it('carry at most a page (8 MiB) of messages a call, one message at least', async () => {
    const { calls, fabric } = recorder();
    const mb = 1024 * 1024;
    await Promise.all([...Array.from({ length: 20 }, () => mb), 10 * mb].map((size) =>
      fabric.shards.publish({ topic: 't', payload: new Uint8Array(size), qos: 0, retain: false })));
    expect(calls.map((c) => c.payloads.length / mb)).toEqual([7, 7, 6, 10]);
    for (const c of calls.slice(0, -1)) expect(serialize(c).length).toBeLessThanOrEqual(pageBytes);
  });

  it('carry posted messages exactly 1,024 a call and one over in the next, in order, pushed ones among them', async () => {
    for (const n of [1024, 1025]) {
      const { calls, fabric } = recorder();
      const pushed: Promise<unknown>[] = [];
      for (let i = 0; i < n; i++) {
        const m: Message = { topic: 't', payload: text(String(i)), qos: i % 100 === 7 ? 1 : 0, retain: false };
        if (m.qos) pushed.push(fabric.shards.publish(m));
        else fabric.shards.post(m);
      }
      await Promise.all(pushed);
      await fabric.settled();
      // a posted run is taken whole: pushed ones among them may end a call short of 1,024
      expect(calls.map(countOf).every((c) => c <= 1024)).toBe(true);
      expect(calls.flatMap((c) => unpackMessages(c).map((m) => new TextDecoder().decode(m.payload)))).toEqual(Array.from({ length: n }, (_, i) => String(i)));
    }
  });

  it('carry posted messages alone exactly 1,024 a call, and one over in the next', async () => {
    for (const n of [1024, 1025]) {
      const { calls, fabric } = recorder();
      for (let i = 0; i < n; i++) fabric.shards.post({ topic: 't', payload: text(String(i)), qos: 0, retain: false });
      await fabric.settled();
      expect(calls.map(countOf)).toEqual(n === 1024 ? [1024] : [1024, 1]);
    }
  });

  it('carry posted messages exactly a page (8 MiB by their size) a call, and one byte over in the next', async () => {
    for (const over of [0, 1]) {
      const { calls, fabric } = recorder();
      const each = pageBytes / 8 - 259; // outboundBytes of topic 't': payload + 3 + 256
      for (let i = 0; i < 8; i++) fabric.shards.post({ topic: 't', payload: new Uint8Array(each + (i === 7 ? over : 0)).fill(i), qos: 0, retain: false });
      await fabric.settled();
      expect(calls.map(countOf)).toEqual(over ? [7, 1] : [8]);
    }
  });

  it('carry at most about a page a call when the bytes are in properties, not payloads', async () => {
    const { calls, fabric } = recorder();
    // 8 user properties of 60,000 bytes (a string's most is 65,535): 480 KB, within the largest packet (1 MiB)
    const userProperties = (i: number) => Array.from({ length: 8 }, (_, j): [string, string] => [`k${j}`, `${i}`.padEnd(60_000, 'x')]);
    for (let i = 0; i < 64; i++) fabric.shards.post({ topic: 't', payload: new Uint8Array(), qos: 0, retain: false, properties: { userProperties: userProperties(i) } });
    await fabric.settled();
    expect(calls.map(countOf).reduce((a, b) => a + b, 0)).toBe(64);
    for (const c of calls) expect(serialize(c).length).toBeLessThanOrEqual(pageBytes + 1024 * 1024);
  });
});

// Attacks on the packed form (review of the shardcpu branch): payloads at and around the view/copy
// line, every byte value, empty payloads, multi-byte topics that repeat across publishers, every
// property of MQTT 5, and calls exactly at the limits of items and bytes and one over.
describe('packed messages at their edges', () => {
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  const props = (i: number): Message['properties'] => ({
    payloadFormatIndicator: (i % 2) as 0 | 1, messageExpiryInterval: 60 + i, contentType: `application/x-${i}`,
    responseTopic: `reply/ü/${i}`, correlationData: Uint8Array.from([i & 255, 0, 255]), userProperties: [['k', `v${i}`], ['k', 'again'], ['ключ', '値']],
  });

  it('carry binary payloads with every byte value, empty payloads, multi-byte topics and every property, in order', () => {
    const topics = ['ä/€/𝄞', 'a/b', '日本/語', 'ä/€/𝄞'];
    const messages: Message[] = Array.from({ length: 64 }, (_, i) => {
      const m: Message = {
        topic: topics[i % topics.length], payload: i % 5 === 0 ? new Uint8Array() : every.subarray(i % 7, 256 - (i % 3)),
        qos: (i % 3) as 0 | 1 | 2, retain: i % 4 === 0, publisher: `pub-${i % 3}-ü`,
      };
      if (i % 2) m.properties = props(i);
      if (i % 3 === 2) m.id = i * 1000;
      if (i % 6 === 1) m.expiresAt = 1_780_000_000_000 + i;
      m.stamp = 1e15 + i;
      return m;
    });
    const back = unpackMessages(structuredClone(packMessages(messages)));
    expect(back).toEqual(messages);
    for (let i = 0; i < back.length; i++) expect([...back[i].payload]).toEqual([...messages[i].payload]);
    expect(back.map((m) => Object.keys(m).sort())).toEqual(messages.map((m) => Object.keys(m).sort()));
  });

  it('give views exactly up to viewBytes of payload and copies one byte over, each byte where it was', () => {
    for (const total of [viewBytes - 1, viewBytes, viewBytes + 1]) {
      const sizes = [0, 1, total - 1 - 1000, 1000, 0];
      const messages: Message[] = sizes.map((n, i) => ({ topic: `t/${i}`, payload: Uint8Array.from({ length: n }, (_, k) => (k * 31 + i) & 255), qos: 0, retain: false }));
      const back = unpackMessages(structuredClone(packMessages(messages)));
      expect(back.map((m) => m.payload.byteLength)).toEqual(sizes);
      back.forEach((m, i) => expect(Buffer.from(m.payload).equals(Buffer.from(messages[i].payload))).toBe(true));
      const buffers = back.filter((m) => m.payload.byteLength > 0).map((m) => m.payload.buffer.byteLength);
      if (total <= viewBytes) expect(buffers.every((b) => b === total)).toBe(true);
      else expect(buffers).toEqual(sizes.filter((n) => n > 0));
    }
  });

  it('carry a message of the broker\'s largest packet (1 MiB) alone and with small ones, each a copy of its own', () => {
    const mb = 1024 * 1024;
    const big = Uint8Array.from({ length: mb }, (_, k) => k & 255);
    const messages: Message[] = [
      { topic: 'x', payload: every, qos: 1, retain: false }, { topic: 'y', payload: big, qos: 2, retain: true, id: 1 }, { topic: 'x', payload: new Uint8Array(), qos: 0, retain: false },
    ];
    const back = unpackMessages(structuredClone(packMessages(messages)));
    expect(back).toEqual(messages);
    expect(back.map((m) => m.payload.buffer.byteLength)).toEqual([256, mb, 0]);
  });
});

describe('a publish call to a stalled shard', () => {
  it('fails its QoS 1/2 publishes between its deadline and an eighth of the call timeout later, counts the QoS 0 lost, and the next call goes', async () => {
    vi.useFakeTimers();
    try {
      const stalled: Array<(answers: PackedAnswers) => void> = [];
      const calls: PackedMessages[] = [];
      const none = () => {
        throw new Error('not called here');
      };
      const directory: Directory = {
        shard: () => ({
          publish: (packed) => {
            calls.push(packed);
            return new Promise<PackedAnswers>((resolve) => stalled.push(resolve));
          },
          subscribe: none, unsubscribe: none, leave: none,
        }),
        gateway: () => ({ deliver: none, takeover: none }),
        session: () => ({ attach: none, page: none, abandon: none, stage: none, detach: none, enqueue: none }),
      };
      const logs: string[] = [];
      const timeout = 800; // publish: 4 x 800 ms; a sweep every 100 ms
      const fabric = new FabricCore(directory, { gateways: 1, shards: 1, sessions: 1 }, { role: 'gateway', index: 0 }, { timeout, log: (m) => logs.push(m) });
      let answered = 0;
      fabric.shards.answered = () => void answered++;
      const m = (i: number, qos: 0 | 1): Message => ({ topic: 't', payload: text(String(i)), qos, retain: false });
      fabric.shards.post(m(0, 0));
      const failed: unknown[] = [];
      const one = fabric.shards.publish(m(1, 1)).catch((e: unknown) => void failed.push(e));
      fabric.shards.post(m(2, 0));
      await vi.advanceTimersByTimeAsync(0);
      expect(calls.map(countOf)).toEqual([3]);
      const next = fabric.shards.publish(m(3, 1)); // waits behind the stalled call
      await vi.advanceTimersByTimeAsync(4 * timeout - 1);
      expect(failed).toEqual([]);
      await vi.advanceTimersByTimeAsync(timeout / 8 + 1);
      await one;
      expect(failed).toHaveLength(1);
      expect(String(failed[0])).toContain('publish call timed out after 3200 ms');
      expect(logs.some((l) => l.startsWith('2 QoS 0 messages to shard 0 lost'))).toBe(true);
      expect(fabric.timeouts.publish).toBe(1);
      // the next call went out, and is answered
      expect(calls.map(countOf)).toEqual([3, 1]);
      stalled[1](packAnswers(unpackMessages(calls[1]), [1], [], new Set(), []));
      expect(await next).toEqual({ reached: 1, here: [] });
      expect(answered).toBe(1);
      // the stalled call answering late changes nothing: its publishes already failed
      stalled[0](packAnswers(unpackMessages(calls[0]), [1, 1, 1], [], new Set(), []));
      await vi.advanceTimersByTimeAsync(0);
      expect(answered).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('packed properties', () => {
  it('carry a correlation data of 3 bytes as 3 bytes, not the whole packet it was read from', () => {
    const frame = new Uint8Array(1024 * 1024); // the WebSocket message the codec read it from: a view (reader.binary)
    frame.set([7, 8, 9], 1000);
    const message: Message = { topic: 't', payload: frame.subarray(2000, 2010), qos: 1, retain: false, properties: { correlationData: frame.subarray(1000, 1003) } };
    // structuredClone, as a call between objects clones (node:v8's serialize writes a view's bytes only)
    const back = unpackMessages(structuredClone(packMessages([message])))[0];
    expect([...back.properties!.correlationData!]).toEqual([7, 8, 9]);
    expect(back.properties!.correlationData!.buffer.byteLength).toBe(3);
  });
});
