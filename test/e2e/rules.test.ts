// Rules end to end on workerd: MQTT.js clients publish, a real local HTTP server receives the
// webhooks, republished messages come back over MQTT; faults (500s, timeouts, a crash mid-drain)
// lose nothing acknowledged; dead letters appear after the configured tries and can be replayed;
// the outbox bound refuses QoS 1 with 0x97; the admin API manages rules at run time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, inbox, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { hmac, webhookServer } from './webhook-server.ts';

const secret = 'e2e-webhook-secret';
let hooks: Awaited<ReturnType<typeof webhookServer>>;
let server: BrokerServer;
let flaky: number | 'hang' = 200;

const fast = { initialMs: 200, maxMs: 1000 };
function rulesFile() {
  return JSON.stringify({
    rules: [
      {
        name: 'hot', topic: 'plant/+/temp', condition: { '>': [{ var: 'c' }, 30] }, projection: { celsius: 'c', device: '$clientId' },
        action: { kind: 'webhook', url: hooks.url('/hot'), secretEnv: 'RULES_WEBHOOK_SECRET', timeoutMs: 2000 }, tries: 100, backoff: fast,
      },
      { name: 'flaky', topic: 'flaky/#', action: { kind: 'webhook', url: hooks.url('/flaky'), timeoutMs: 500 }, tries: 100, backoff: fast },
      { name: 'dead', topic: 'dead/#', action: { kind: 'webhook', url: hooks.url('/dead') }, tries: 2, backoff: { initialMs: 100, maxMs: 100 } },
      { name: 'small', topic: 'small/#', outbox: { messages: 3 }, action: { kind: 'webhook', url: hooks.url('/small') }, backoff: { initialMs: 600_000, maxMs: 600_000 } },
      { name: 'ping', topic: 'ping/#', action: { kind: 'republish', topic: 'pong/{topic}', qos: 1 } },
      { name: 'pong', topic: 'pong/#', action: { kind: 'republish', topic: 'ping/{topic}', qos: 1 } },
    ],
  });
}

const api = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${server.port}${path}`, init);
const vars = () => ({ MQTT_RULES_FILE: rulesFile(), RULES_WEBHOOK_SECRET: secret });

beforeAll(async () => {
  hooks = await webhookServer();
  hooks.answer((path) => (path === '/flaky' ? flaky : path === '/dead' || path === '/small' ? 500 : 200));
  server = await startBroker({ vars: vars() });
}, 90_000);
afterAll(async () => {
  if (process.env.SHOW_LOGS) console.log(server?.logs.join(''));
  await server?.stop();
  await hooks?.close();
});

describe('webhook action', () => {
  it('POSTs what the rule says (condition, projection), signed, in order per publisher', async () => {
    const [a, b] = await Promise.all(['dev-a', 'dev-b'].map((clientId) => connectMqtt(server.url, { protocolVersion: 5, clientId })));
    for (let i = 0; i < 20; i++) {
      await Promise.all([a.publishAsync('plant/1/temp', JSON.stringify({ c: 20 + i }), { qos: 1 }), b.publishAsync('plant/2/temp', JSON.stringify({ c: 40 + i }), { qos: 1 })]);
    }
    await a.publishAsync('plant/1/temp', 'not json', { qos: 1 });
    await a.publishAsync('plant/1/humidity', JSON.stringify({ c: 99 }), { qos: 1 });
    const expected = [...Array.from({ length: 9 }, (_, i) => ({ celsius: 31 + i, device: 'dev-a' })), ...Array.from({ length: 20 }, (_, i) => ({ celsius: 40 + i, device: 'dev-b' }))];
    await hooks.waitFor(() => hooks.messages('/hot').length >= expected.length);
    await new Promise((r) => setTimeout(r, 1500)); // nothing more comes
    const got = hooks.messages('/hot');
    expect(got.length).toBe(expected.length);
    for (const device of ['dev-a', 'dev-b']) {
      expect(got.filter((m) => m.clientId === device).map((m) => m.value)).toEqual(expected.filter((e) => e.device === device));
    }
    for (const r of hooks.received.filter((h) => h.path === '/hot')) {
      expect(r.headers['x-signature-256']).toBe(hmac(secret, r.raw));
      expect(r.headers['x-rule']).toBe('hot');
      expect(r.body.rule).toBe('hot');
    }
    await Promise.all([a.endAsync(), b.endAsync()]);
  });

  it('loses nothing acknowledged while the endpoint fails with 500 and with timeouts, then recovers', async () => {
    const pub = await connectMqtt(server.url, { protocolVersion: 5 });
    flaky = 500;
    for (let i = 0; i < 10; i++) await pub.publishAsync('flaky/x', `m${i}`, { qos: 1 });
    const counters = async () => ((await (await api('/api/rules/flaky')).json()) as { counters: { retried: number; delivered: number } }).counters;
    /** Waits (bounded) until the rule has been retried more than `than` times: the faults were met. */
    const retriedPast = async (than: number) => {
      for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
        const c = await counters();
        if (c.retried > than) return c.retried;
      }
      throw new Error(`the flaky rule was not retried past ${than} times in 20 s`);
    };
    const with500 = await retriedPast(1); // several failed tries
    flaky = 'hang';
    for (let i = 10; i < 20; i++) await pub.publishAsync('flaky/x', `m${i}`, { qos: 1 });
    await retriedPast(with500 + 1); // and several timed out
    expect((await counters()).delivered).toBe(0);
    flaky = 200;
    await hooks.waitFor(() => new Set(hooks.messages('/flaky').map((m) => m.payload)).size === 20);
    const firsts = [...new Set(hooks.messages('/flaky').map((m) => m.payload))];
    expect(firsts).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    await pub.endAsync();
  });

  it('moves messages to the dead letters after the configured tries; they are read, replayed and deleted through the API', async () => {
    const pub = await connectMqtt(server.url, { protocolVersion: 5 });
    for (const p of ['d1', 'd2']) await pub.publishAsync('dead/x', p, { qos: 1 });
    type Dead = { deadLetters: Array<{ seq: number; payload: string; attempts: number; error: string }> };
    let dead: Dead = { deadLetters: [] };
    const until = Date.now() + 20_000;
    while (dead.deadLetters.length < 2 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      dead = (await (await api('/api/rules/dead/dead-letters')).json()) as Dead;
    }
    expect(dead.deadLetters.map((d) => [d.payload, d.attempts])).toEqual([['d1', 2], ['d2', 2]]);
    expect(dead.deadLetters[0].error).toMatch(/HTTP 500/);
    const rule = (await (await api('/api/rules/dead')).json()) as { counters: { deadLettered: number }; outbox: { messages: number } };
    expect(rule.counters.deadLettered).toBe(2);
    expect(rule.outbox.messages).toBe(0);

    hooks.answer((path) => (path === '/flaky' ? flaky : path === '/small' ? 500 : 200));
    const replay = await api(`/api/rules/dead/dead-letters/replay?seq=${dead.deadLetters[0].seq}`, { method: 'POST' });
    expect(await replay.json()).toMatchObject({ replayed: 1 });
    await hooks.waitFor(() => hooks.messages('/dead').length === 1);
    expect(hooks.messages('/dead').map((m) => m.payload)).toEqual(['d1']);
    expect(await (await api('/api/rules/dead/dead-letters', { method: 'DELETE' })).json()).toMatchObject({ deleted: 1 });
    expect(((await (await api('/api/rules/dead/dead-letters')).json()) as Dead).deadLetters).toEqual([]);
    hooks.answer((path) => (path === '/flaky' ? flaky : path === '/dead' || path === '/small' ? 500 : 200));
    await pub.endAsync();
  });

  it('refuses a QoS 1 publish with 0x97 once the rule\'s outbox is full, and counts it', async () => {
    const pub = await connectMqtt(server.url, { protocolVersion: 5 });
    for (let i = 0; i < 3; i++) await pub.publishAsync('small/x', `s${i}`, { qos: 1 });
    await expect(pub.publishAsync('small/x', 's3', { qos: 1 })).rejects.toThrow(/Quota exceeded|151|0x97/i);
    await pub.publishAsync('small/x', 'qos 0 is dropped for the rule, not refused', { qos: 0 });
    await pub.publishAsync('elsewhere', 'other topics flow', { qos: 1 });
    const stats = (await (await api('/api/stats')).json()) as { rules: Array<{ name: string; refused: number; dropped: number; outbox: number }> };
    expect(stats.rules.find((r) => r.name === 'small')).toMatchObject({ refused: 1, dropped: 1, outbox: 3 });
    const metrics = await (await api('/metrics')).text();
    expect(metrics).toMatch(/mqtt_rule_refused_total\{namespace="default",rule="small"\} 1/);
    expect(metrics).toMatch(/mqtt_rule_outbox_messages\{namespace="default",rule="small"\} 3/);
    await pub.endAsync();
  });
});

describe('republish action', () => {
  it('republishes, and a rule chain that would loop stops at the first rule seen again', async () => {
    const sub = await connectMqtt(server.url, { protocolVersion: 5 });
    const box = inbox(sub);
    const id = uniqueId('loop');
    await sub.subscribeAsync([`ping/${id}`, `pong/ping/${id}`, `ping/pong/ping/${id}`, `pong/ping/pong/ping/${id}`], { qos: 1 });
    const pub = await connectMqtt(server.url, { protocolVersion: 5 });
    await pub.publishAsync(`ping/${id}`, 'ball', { qos: 1 });
    const got = [await box.next(), await box.next(), await box.next()];
    await box.quiet(2500);
    expect(got.map((m) => m.topic)).toEqual([`ping/${id}`, `pong/ping/${id}`, `ping/pong/ping/${id}`]);
    expect(box.items.length).toBe(3);
    const marker = (got[2].packet.properties?.userProperties as Record<string, string> | undefined)?.['x-rule-path'];
    expect(marker).toBe('ping,pong');
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });
});

describe('/api/rules', () => {
  const put = (name: string, body: unknown) => api(`/api/rules/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('adds, lists, disables, enables and deletes a rule at run time; refuses bad ones naming the field', async () => {
    const bad = await put('late', { topic: 'late/#', action: { kind: 'webhook', url: hooks.url('/late') }, tries: 0 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/rule "late": tries must be a whole number/);
    expect((await put('late', { topic: 'late/#', action: { kind: 'webhook', url: hooks.url('/late') } })).status).toBe(201);
    expect((await put('hot', { topic: 'x', action: { kind: 'webhook', url: hooks.url('/x') } })).status).toBe(409);
    const list = (await (await api('/api/rules')).json()) as { rules: Array<{ name: string; source: string }> };
    expect(list.rules.map((r) => `${r.name}:${r.source}`)).toEqual(['dead:file', 'flaky:file', 'hot:file', 'late:api', 'ping:file', 'pong:file', 'small:file']);

    const pub = await connectMqtt(server.url, { protocolVersion: 5 });
    await pub.publishAsync('late/1', 'one', { qos: 1 });
    await hooks.waitFor(() => hooks.messages('/late').length === 1);
    expect((await api('/api/rules/late/disable', { method: 'POST' })).status).toBe(200);
    await pub.publishAsync('late/1', 'not matched while disabled', { qos: 1 });
    expect((await api('/api/rules/late/enable', { method: 'POST' })).status).toBe(200);
    await pub.publishAsync('late/1', 'two', { qos: 1 });
    await hooks.waitFor(() => hooks.messages('/late').length === 2);
    expect(hooks.messages('/late').map((m) => m.payload)).toEqual(['one', 'two']);

    expect((await api('/api/rules/small', { method: 'DELETE' })).status).toBe(409);
    const gone = await api('/api/rules/late', { method: 'DELETE' });
    expect(await gone.json()).toMatchObject({ deleted: 'late', discarded: { outbox: 0, deadLetters: 0 } });
    expect((await api('/api/rules/late')).status).toBe(404);
    await pub.endAsync();
  });

  it('gives per-rule figures in $SYS', async () => {
    const sub = await connectMqtt(server.url, { protocolVersion: 5 });
    const box = inbox(sub);
    await sub.subscribeAsync('$SYS/broker/rules/hot/+', { qos: 0 });
    const figures = new Map<string, string>();
    while (figures.size < 8) {
      const m = await box.next();
      figures.set(m.topic.split('/').pop()!, String(m.payload));
    }
    expect(Number(figures.get('matched'))).toBeGreaterThanOrEqual(29);
    expect(Number(figures.get('delivered'))).toBeGreaterThanOrEqual(29);
    expect([...figures.keys()].sort()).toEqual(['dead-lettered', 'delivered', 'dropped', 'lag-ms', 'matched', 'outbox', 'refused', 'retried']);
    await sub.endAsync();
  });
});
