// The Queue action against the local Queues binding: what a consumer Worker receives, in order,
// split within Cloudflare's sendBatch limits; too-large messages and send errors fail the batch.
import { beforeEach, describe, expect, it } from 'vitest';
import { queueAction, queueBatches, queueLimits } from '../../src/rules/actions/queue.ts';
import { actionContext, ruleMessage, workerEnv } from './rule-messages.ts';

interface Received { queue: string; body: Record<string, unknown> }

const consumer = () => workerEnv.QUEUE_CONSUMER as Fetcher;

async function received(count: number, timeoutMs = 10_000): Promise<Received[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = (await (await consumer().fetch('http://consumer/')).json()) as Received[];
    if (got.length >= count || Date.now() > until) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const config = (extra: Record<string, unknown> = {}) => queueAction.parse({ kind: 'queue', binding: 'RULES_QUEUE', ...extra }, workerEnv);

beforeEach(async () => {
  await consumer().fetch('http://consumer/', { method: 'POST' });
});

describe('queue action: configuration', () => {
  it('refuses a missing binding, one that is not a Queue, unknown fields and a bad body', () => {
    expect(() => queueAction.parse({ kind: 'queue', binding: 'NO_SUCH_QUEUE' }, workerEnv)).toThrow(/NO_SUCH_QUEUE: this Worker has no such binding/);
    expect(() => queueAction.parse({ kind: 'queue' }, workerEnv)).toThrow(/binding must be the name/);
    expect(() => queueAction.parse({ kind: 'queue', binding: 'RULES_DB' }, workerEnv)).toThrow(/RULES_DB is not a Queue producer/);
    expect(() => config({ batch: 5 })).toThrow(/unknown field batch/);
    expect(() => config({ body: 'payload' })).toThrow(/body must be/);
    expect(config()).toEqual({ binding: 'RULES_QUEUE', body: 'message' });
  });

  it('bounds a call by the Queues sendBatch limits: 100 messages', () => {
    expect(queueAction.limits(config())).toEqual({ count: 100, bytes: 128_000 });
  });
});

describe('queue action: delivery', () => {
  it('sends each message as its JSON record, in seq order, to the consumer', async () => {
    const batch = [
      ruleMessage(1, 'sensors/a/temp', '{"temperature":21.5}', { clientId: 'dev-a', username: 'alice', contentType: 'application/json' }),
      ruleMessage(2, 'sensors/b/temp', 'not json', { qos: 2, retain: true, userProperties: [['unit', 'C']] }),
      ruleMessage(3, 'sensors/c/raw', new Uint8Array([0xff, 0x00, 0x41])),
    ];
    await queueAction.deliver(config(), batch, actionContext('to-queue'));
    const got = await received(3);
    expect(got).toEqual([
      { queue: 'rules-test', body: {
        seq: 1, topic: 'sensors/a/temp', payload: '{"temperature":21.5}', encoding: 'utf8', qos: 1, retain: false,
        receivedAt: '2026-11-29T14:07:30.001Z', clientId: 'dev-a', username: 'alice', contentType: 'application/json', value: { temperature: 21.5 },
      } },
      { queue: 'rules-test', body: {
        seq: 2, topic: 'sensors/b/temp', payload: 'not json', encoding: 'utf8', qos: 2, retain: true,
        receivedAt: '2026-11-29T14:07:30.002Z', userProperties: [['unit', 'C']],
      } },
      { queue: 'rules-test', body: {
        seq: 3, topic: 'sensors/c/raw', payload: '/wBB', encoding: 'base64', qos: 1, retain: false, receivedAt: '2026-11-29T14:07:30.003Z',
      } },
    ]);
  });

  it('body "value" sends the projection alone, the record when the payload is not JSON', async () => {
    const batch = [ruleMessage(1, 't', '{"a":1}'), ruleMessage(2, 't', 'plain')];
    await queueAction.deliver(config({ body: 'value' }), batch, actionContext('values'));
    const got = await received(2);
    expect(got.map((r) => r.body)).toEqual([{ a: 1 }, expect.objectContaining({ seq: 2, payload: 'plain' })]);
  });

  it('splits a batch larger than one sendBatch call may carry, keeping every message and its order', async () => {
    const big = 'x'.repeat(90_000); // three of these are more than 256 KB
    const batch = [
      ...Array.from({ length: 120 }, (_, i) => ruleMessage(i + 1, 'count', String(i + 1))),
      ...[121, 122, 123].map((seq) => ruleMessage(seq, 'big', big)),
    ];
    const calls = queueBatches(batch.map((m) => ({ seq: m.seq, size: m.payload.length + 200 })));
    expect(calls.map((c) => c.length)).toEqual([100, 22, 1]); // 20 small and two 90 KB bodies fit 256 KB, the third does not
    await queueAction.deliver(config(), batch, actionContext('split'));
    const got = await received(123);
    expect(got.map((r) => r.body.seq)).toEqual(batch.map((m) => m.seq));
    expect(got[122].body.payload).toBe(big);
  });

  it('a batch delivered twice arrives twice: Queues do not deduplicate (at least once; consumers key on rule and seq)', async () => {
    const batch = [ruleMessage(7, 't', '1'), ruleMessage(8, 't', '2')];
    await queueAction.deliver(config(), batch, actionContext('twice'));
    await queueAction.deliver(config(), batch, actionContext('twice'));
    expect((await received(4)).map((r) => r.body.seq)).toEqual([7, 8, 7, 8]);
  });

  it('a message too large for a Queue fails the batch before anything is sent, naming its seq', async () => {
    const batch = [ruleMessage(1, 't', 'small'), ruleMessage(2, 't', 'y'.repeat(queueLimits.messageBytes))];
    await expect(queueAction.deliver(config(), batch, actionContext('too-large'))).rejects.toThrow(/message seq 2 is \d+ bytes as a Queue message.*more than the 128000/);
    // the largest body that fits goes through
    const fits = 'z'.repeat(queueLimits.messageBytes - queueLimits.metadataBytes - 200);
    const record = (await import('../../src/rules/actions/fields.ts')).messageRecord(ruleMessage(3, 't', fits));
    const slack = queueLimits.messageBytes - queueLimits.metadataBytes - JSON.stringify(record).length;
    await queueAction.deliver(config(), [ruleMessage(3, 't', fits + 'z'.repeat(slack))], actionContext('too-large'));
    const got = await received(1);
    expect(got.map((r) => r.body.seq)).toEqual([3]);
  });

  it('a failing sendBatch fails the batch, so the engine retries it', async () => {
    const real = workerEnv.RULES_QUEUE as Queue;
    let calls = 0;
    const failing = {
      send: real.send.bind(real),
      sendBatch: (messages: MessageSendRequest[]) => (++calls === 1 ? Promise.reject(new Error('Queue send failed: Too Many Requests')) : real.sendBatch(messages)),
    };
    const context = actionContext('retry', { ...workerEnv, RULES_QUEUE: failing });
    const batch = [ruleMessage(1, 't', 'a'), ruleMessage(2, 't', 'b')];
    await expect(queueAction.deliver(config(), batch, context)).rejects.toThrow(/Too Many Requests/);
    await queueAction.deliver(config(), batch, context);
    expect((await received(2)).map((r) => r.body.seq)).toEqual([1, 2]);
  });
});
