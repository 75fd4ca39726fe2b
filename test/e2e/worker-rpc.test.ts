// Worker RPC end to end: a second Worker with service bindings to the broker's BrokerRpc
// entrypoint publishes and reads retained messages; real MQTT.js clients subscribed to the
// broker receive what it published, in the default and the sharded topology. Both Workers run
// in one Miniflare (workerd), the broker built as `npm start` builds it (scripts/local-worker.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localWorker } from '../../scripts/local-worker.ts';
import { connectMqtt, inbox, uniqueId } from './clients.ts';

const root = join(import.meta.dirname, '../..');
const vars = {
  MQTT_ALLOW_ANONYMOUS: 'true',
  MQTT_GATEWAYS__sharded: '2', MQTT_SHARDS__sharded: '2',
  // "secured": an ACL; Workers declare who they are in their binding's props
  MQTT_ALLOW_ANONYMOUS__secured: 'false', MQTT_JWT_SECRET__secured: 'rpc-test-secret',
  MQTT_ACL_FILE__secured: 'user backend\ntopic readwrite billing/#\n\npattern write devices/%c/#',
};
const rpc = (props?: Record<string, unknown>) => ({ name: 'edge-mqtt', entrypoint: 'BrokerRpc', ...(props && { props }) });

interface Answer { result?: Record<string, unknown>; error?: { name: string; message: string; reasonCode?: number } }

let mf: Miniflare;
let wsUrl: string;
let persist: string;

/** Calls env[binding][method](...args) in the caller Worker. */
async function call(binding: string, method: string, ...args: unknown[]): Promise<Answer> {
  // Miniflare's Fetcher type does not resolve under the Node project's types
  const caller = (await mf.getWorker('rpc-caller')) as unknown as { fetch(url: string, init: RequestInit): Promise<Response> };
  const res = await caller.fetch('http://caller/', { method: 'POST', body: JSON.stringify({ binding, method, args }) });
  return (await res.json()) as Answer;
}
const bytes = (b: Uint8Array) => ({ $bytes: Buffer.from(b).toString('base64') });

beforeAll(async () => {
  persist = mkdtempSync(join(tmpdir(), 'edge-mqtt-rpc-'));
  const broker = await localWorker(join(root, 'wrangler.toml'), vars);
  mf = new Miniflare(convertV4MiniflareOptions({
    host: '127.0.0.1', port: 0, cf: false, log: new Log(LogLevel.WARN), resourcePersistencePath: persist,
    workers: [broker.worker, {
      name: 'rpc-caller', modules: true, scriptPath: join(root, 'test/e2e/rpc-caller/worker.js'), compatibilityDate: '2025-11-01',
      serviceBindings: {
        DEFAULT: rpc(),
        SHARDED: rpc({ namespace: 'sharded', clientId: 'caller' }),
        BACKEND: rpc({ namespace: 'secured', username: 'backend' }),
        MALLORY: rpc({ namespace: 'secured', username: 'mallory', clientId: 'm1' }),
        ANONYMOUS_SECURED: rpc({ namespace: 'secured' }),
        BAD_PROPS: rpc({ namespace: 'no spaces' }),
      },
    }],
  }));
  wsUrl = `ws://${(await mf.ready).host}/mqtt`;
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  rmSync(persist, { recursive: true, force: true });
});

describe.each([
  ['default topology', 'DEFAULT', ''],
  ['sharded topology (2 gateways x 2 shards)', 'SHARDED', '/sharded'],
])('Worker RPC publish, %s', (_name, binding, path) => {
  const gateways = path ? ['?gateway=0', '?gateway=1'] : [''];

  it('a subscribed MQTT client receives what the Worker published, with its v5 properties and QoS', async () => {
    const subscribers = await Promise.all(gateways.map((g) => connectMqtt(`${wsUrl}${path}${g}`, { protocolVersion: 5 })));
    try {
      const inboxes = subscribers.map(inbox);
      await Promise.all(subscribers.map((s) => s.subscribeAsync('rpc/#', { qos: 1 })));
      const answer = await call(binding, 'publish', 'rpc/a', 'hello', {
        qos: 1, properties: { contentType: 'text/plain', userProperties: { source: 'worker' }, messageExpiryInterval: 60, correlationData: bytes(new Uint8Array([1, 2])) },
      });
      expect(answer).toEqual({ result: { matched: subscribers.length } });
      for (const box of inboxes) {
        const got = await box.next(10_000);
        expect(got.topic).toBe('rpc/a');
        expect(got.payload).toBe('hello');
        expect(got.packet.qos).toBe(1);
        expect(got.packet.properties).toMatchObject({ contentType: 'text/plain', userProperties: { source: 'worker' }, correlationData: Buffer.from([1, 2]) });
        expect(got.packet.properties?.messageExpiryInterval).toBeGreaterThan(50);
      }
      // bytes go through as bytes, QoS 2 too, in order
      const raw = new Uint8Array([0, 255, 10]);
      await call(binding, 'publish', 'rpc/b', bytes(raw), { qos: 2 });
      await call(binding, 'publish', 'rpc/c', 'third', { qos: 0 });
      for (const box of inboxes) {
        const b = await box.next(10_000);
        expect([b.topic, b.packet.qos, [...b.packet.payload as Buffer]]).toEqual(['rpc/b', 1, [0, 255, 10]]);
        expect((await box.next(10_000)).topic).toBe('rpc/c');
      }
    } finally {
      await Promise.all(subscribers.map((s) => s.endAsync()));
    }
  });

  it('retains, and reads retained messages back by filter, bounded by limit', async () => {
    const topics = ['state/a', 'state/b', 'state/c'].map((t) => `${t}-${uniqueId()}`);
    for (const t of topics) expect((await call(binding, 'publish', t, `v-${t}`, { retain: true, qos: 1 })).error).toBeUndefined();
    const all = await call(binding, 'retained', 'state/#');
    const mine = (all.result!.messages as { topic: string }[]).filter((m) => topics.includes(m.topic));
    expect(mine.map((m) => m.topic)).toEqual(topics);
    const first = await call(binding, 'retained', topics[1]);
    expect(first.result).toEqual({ total: 1, more: false, messages: [{ topic: topics[1], payload: bytes(new TextEncoder().encode(`v-${topics[1]}`)), qos: 1 }] });
    const limited = await call(binding, 'retained', 'state/#', { limit: 1 });
    expect((limited.result!.messages as unknown[]).length).toBe(1);
    expect(limited.result!.total).toBeGreaterThanOrEqual(3);
    // a client subscribing later gets the retained message
    const late = await connectMqtt(`${wsUrl}${path}`, { protocolVersion: 5 });
    try {
      const box = inbox(late);
      await late.subscribeAsync(topics[2], { qos: 1 });
      const got = await box.next(10_000);
      expect([got.topic, got.payload, got.packet.retain]).toEqual([topics[2], `v-${topics[2]}`, true]);
    } finally {
      await late.endAsync();
    }
  });

  it('refuses what a client would be refused, with the MQTT reason code', async () => {
    const refusal = async (args: unknown[], code: string) => {
      const { error, result } = await call(binding, 'publish', ...args);
      expect(result).toBeUndefined();
      expect(error?.message).toMatch(new RegExp(`^BrokerRpcError: ${code}\\b`));
      return error!;
    };
    await refusal(['a/#', 'x'], '0x90 TopicNameInvalid');
    await refusal(['', 'x'], '0x90');
    await refusal(['$SYS/x', 'x'], '0x87 NotAuthorized');
    await refusal(['a', 'x'.repeat(1024 * 1024)], '0x95 PacketTooLarge');
    await refusal(['a', 'x', { qos: 3 }], '0x9b QoSNotSupported');
    await refusal(['a', 42], '0x81 MalformedPacket');
    await refusal(['a', 'x', { dup: true }], '0x81');
    await refusal(['a', 'x', { properties: { topicAlias: 1 } }], '0x81');
    await refusal(['a', 'x', { properties: { contentType: 7 } }], '0x81');
    await refusal(['a', bytes(new Uint8Array([0xff])), { properties: { payloadFormatIndicator: 1 } }], '0x99 PayloadFormatInvalid');
    await refusal(['a', 'x', { properties: { messageExpiryInterval: -1 } }], '0x82 ProtocolError');
    const { error } = await call(binding, 'retained', 'a/#/b');
    expect(error?.message).toMatch(/^BrokerRpcError: 0x8f TopicFilterInvalid/);
    expect((await call(binding, 'retained', 'a', { limit: 0 })).error?.message).toMatch(/^BrokerRpcError: 0x81.*limit/);
  });
});

describe('Worker RPC: the ACL judges the identity a binding declares', () => {
  it('a declared user publishes where the ACL lets it, and nowhere else', async () => {
    expect(await call('BACKEND', 'publish', 'billing/invoices', '1', { qos: 1 })).toEqual({ result: { matched: 0 } });
    expect((await call('BACKEND', 'publish', 'devices/x/cmd', '1')).error?.message).toMatch(/^BrokerRpcError: 0x87 NotAuthorized: backend may not publish to devices\/x\/cmd/);
    expect((await call('MALLORY', 'publish', 'billing/invoices', '1')).error?.message).toMatch(/^BrokerRpcError: 0x87/);
    // the pattern rule: %c is the declared client id
    expect((await call('MALLORY', 'publish', 'devices/m1/state', '1')).error).toBeUndefined();
  });

  it('reads retained messages only under filters it may subscribe to', async () => {
    await call('BACKEND', 'publish', 'billing/total', '42', { retain: true });
    expect(((await call('BACKEND', 'retained', 'billing/#')).result!.messages as { topic: string }[]).map((m) => m.topic)).toContain('billing/total');
    expect((await call('MALLORY', 'retained', 'billing/#')).error?.message).toMatch(/^BrokerRpcError: 0x87 NotAuthorized: mallory may not subscribe to billing\/#/);
  });

  it('an anonymous Worker is refused where anonymous clients are, and bad props are refused', async () => {
    expect((await call('ANONYMOUS_SECURED', 'publish', 'billing/x', '1')).error?.message).toMatch(/^BrokerRpcError: 0x87 NotAuthorized: namespace secured allows no anonymous publisher/);
    expect((await call('BAD_PROPS', 'publish', 'a', '1')).error?.message).toMatch(/^BrokerRpcError: 0x81 MalformedPacket: props.namespace/);
  });

  it('the error reaches the caller as an Error whose message carries the class and the reason code (RPC keeps no other property)', async () => {
    const { error } = await call('MALLORY', 'publish', 'billing/invoices', '1');
    expect(error).toEqual({ name: 'Error', message: 'BrokerRpcError: 0x87 NotAuthorized: mallory may not publish to billing/invoices' });
    expect(Number.parseInt(/\b0x([0-9a-f]{2}) /.exec(error!.message)![1], 16)).toBe(0x87);
  });
});

describe('npm start\'s local rule sinks', () => {
  it('the broker Worker has local Queue, R2, D1 and Analytics Engine bindings', async () => {
    const bucket = (await mf.getR2Bucket('RULES_ARCHIVE', 'edge-mqtt')) as unknown as { put(k: string, v: string): Promise<unknown>; get(k: string): Promise<{ text(): Promise<string> } | null> };
    await bucket.put('probe', 'ok');
    expect(await (await bucket.get('probe'))!.text()).toBe('ok');
    const db = await mf.getD1Database('RULES_DB', 'edge-mqtt');
    expect(await db.prepare('SELECT 1 AS one').first()).toEqual({ one: 1 });
    const bindings = await mf.getBindings('edge-mqtt') as Record<string, unknown>;
    expect(Object.keys(bindings)).toEqual(expect.arrayContaining(['RULES_QUEUE', 'RULES_ARCHIVE', 'RULES_DB', 'RULES_ANALYTICS']));
  });
});
