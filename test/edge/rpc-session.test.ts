// RPC sessions between a sharded namespace's objects (src/edge/rpc-session.ts): one billed request
// opens a session, its calls ride it in order, a failed call retires it, an idle one is closed;
// and across real objects, many messages cost a few billed calls, not one or two each.
import { exports } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { idleMs, Sessions } from '../../src/edge/rpc-session.ts';
import type { Units } from '../../src/edge/billing.ts';
import { sleep, text, WsClient } from './ws-client.ts';

/** A fake target: counts openings, records calls, can fail one, and says when it is disposed. */
function fake() {
  const log: string[] = [];
  let opened = 0;
  const connect = async (index: number) => {
    const session = ++opened;
    return {
      call: async (x: string) => {
        if (x === 'fail') throw new Error('broken');
        log.push(`${index}:${session}:${x}`);
        return x;
      },
      [Symbol.dispose]: () => void log.push(`${index}:${session}:disposed`),
    };
  };
  return { log, connect, opened: () => opened };
}

describe('RPC sessions', () => {
  it('opens one session per target for many calls, which arrive in order', async () => {
    const f = fake();
    const sessions = new Sessions(f.connect, 1_000);
    const answers = await Promise.all(['a', 'b', 'c'].map((x) => sessions.call(0, (s) => s.call(x))));
    await sessions.call(1, (s) => s.call('d'));
    expect(answers).toEqual(['a', 'b', 'c']);
    expect(f.log).toEqual(['0:1:a', '0:1:b', '0:1:c', '1:2:d']);
    expect(f.opened()).toBe(2);
  });

  it('retires a session whose call failed: the next call opens another, the old one is closed', async () => {
    const f = fake();
    const sessions = new Sessions(f.connect, 1_000);
    await expect(sessions.call(0, (s) => s.call('fail'))).rejects.toThrow('broken');
    await sessions.call(0, (s) => s.call('after'));
    expect(f.log).toEqual(['0:1:disposed', '0:2:after']);
  });

  it(`closes a session idle for ${idleMs} ms, about what holding an object that long costs against one request`, async () => {
    expect(idleMs).toBeGreaterThan(90);
    expect(idleMs).toBeLessThan(100);
    // the clock is the test's: a loaded machine that stalls between two steps would make a real idle spell longer
    vi.useFakeTimers();
    try {
      const f = fake();
      const sessions = new Sessions(f.connect, 1_000);
      await sessions.call(0, (s) => s.call('a'));
      await vi.advanceTimersByTimeAsync(idleMs / 2);
      await sessions.call(0, (s) => s.call('b')); // used again: the idle time starts over
      await vi.advanceTimersByTimeAsync(idleMs - 1);
      expect(f.log).toEqual(['0:1:a', '0:1:b']);
      await vi.advanceTimersByTimeAsync(1);
      expect(f.log).toEqual(['0:1:a', '0:1:b', '0:1:disposed']);
      await sessions.call(0, (s) => s.call('c'));
      expect(f.log.at(-1)).toBe('0:2:c');
    } finally {
      vi.useRealTimers();
    }
  });

  it('fails the calls waiting on a session that does not open in time', async () => {
    const sessions = new Sessions<{ call(): Promise<void> }>(() => new Promise(() => undefined), 50);
    await expect(sessions.call(0, (s) => s.call())).rejects.toThrow('not opened in 50 ms');
  });
});

/**
 * The units once nothing holds the objects any more: the idle sessions were closed and their objects
 * told so, so billed time stops growing (under 100 ms over 300 ms). Throws if it still grows after 10 s.
 */
async function released(cost: () => Promise<Units>, from: Units): Promise<Units> {
  for (let i = 0, last = from; i < 30; i++) {
    await sleep(300);
    const now = await cost();
    if (now.activeMs - last.activeMs < 100) return now;
    last = now;
  }
  throw new Error('the objects are still held 10 s after the last message');
}

describe('RPC sessions between the objects of a sharded namespace', () => {
  const cost = async () => {
    const res = await exports.default.fetch('http://broker.test/api/cost?ns=sharded');
    return ((await res.json()) as { total: Units }).total;
  };

  it('carry 40 messages from one gateway to another in a few billed calls, and bill the time they are held', async () => {
    const topic = `rpc-session/${Date.now()}`;
    const sub = await WsClient.open('/mqtt/sharded?gateway=1');
    await sub.connect(`rpc-sub-${Date.now()}`);
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    expect(await sub.next()).toMatchObject({ type: 'suback' });
    const pub = await WsClient.open('/mqtt/sharded?gateway=0');
    await pub.connect(`rpc-pub-${Date.now()}`);
    await sleep(idleMs * 3); // the sessions of the set-up are closed
    const before = await cost();
    // sent at once, so that no session sits idle between them however slow the machine: sent one
    // by one, a round trip past idleMs (a loaded machine) rightly closes a session, and the next opens another
    for (let i = 0; i < 40; i++) pub.send({ type: 'publish', topic, payload: text(`m${i}`), qos: 0, retain: false, dup: false });
    for (let i = 0; i < 40; i++) expect(await sub.next()).toMatchObject({ type: 'publish', topic });
    const after = await released(cost, await cost());
    // a session from gateway 0 to the topic's shard, one from the shard to gateway 1 (none per message)
    expect(after.rpcCalls - before.rpcCalls).toBeLessThanOrEqual(4);
    // the shard and gateway 1 were held for the whole run, not only while handling calls
    expect(after.activeMs - before.activeMs).toBeGreaterThan(0);
  });
});
