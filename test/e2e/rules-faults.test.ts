// Rules across a crash and in the sharded topology: a broker killed while a webhook batch is in
// flight delivers every acknowledged message after its restart; with topics spread over topic
// shards, each matching message reaches the rule's sink once, whichever shard owns it.
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectMqtt, inbox, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { webhookServer } from './webhook-server.ts';
import { shardOfTopic } from '../../src/broker/shard-key.ts';

const servers: BrokerServer[] = [];
const closers: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const c of closers) await c();
});

describe('rules across a crash', () => {
  it('a broker killed mid-drain delivers every acknowledged message after its restart', async () => {
    const hooks = await webhookServer();
    closers.push(hooks.close);
    hooks.answer(() => 'hang');
    const rules = JSON.stringify([{ name: 'keep', topic: 'keep/#', action: { kind: 'webhook', url: hooks.url('/keep'), timeoutMs: 15_000, batch: { messages: 5 } }, backoff: { initialMs: 200, maxMs: 1000 } }]);
    const file = join(mkdtempSync(join(tmpdir(), 'rules-')), 'rules.json');
    writeFileSync(file, rules);
    const first = await startBroker({ args: ['--rules', file] }); // npm start reads the file into MQTT_RULES_FILE
    servers.push(first);
    const pub = await connectMqtt(first.url, { protocolVersion: 5, reconnectPeriod: 0 });
    for (let i = 0; i < 12; i++) await pub.publishAsync('keep/x', `k${i}`, { qos: 1 }); // each PUBACKed: accepted
    await hooks.waitFor(() => hooks.requests.length >= 1, 20_000, 'the first batch to be in flight');
    await first.crash();
    pub.end(true);

    hooks.answer(() => 200);
    const second = await startBroker({ persistTo: first.persistTo, args: ['--rules', file] });
    servers.push(second);
    await hooks.waitFor(() => new Set(hooks.messages('/keep').map((m) => m.payload)).size === 12, 30_000);
    const firsts = [...new Set(hooks.messages('/keep').map((m) => m.payload))];
    expect(firsts).toEqual(Array.from({ length: 12 }, (_, i) => `k${i}`));
    const rule = (await (await fetch(`http://127.0.0.1:${second.port}/api/rules/keep`)).json()) as { counters: { delivered: number; matched: number }; outbox: { messages: number } };
    expect(rule.outbox.messages).toBe(0);
    expect(rule.counters.delivered).toBe(12);
  });
});

describe('a wrong MQTT_RULES_FILE', () => {
  it('keeps the namespace from starting and says which rule and field', async () => {
    const rules = JSON.stringify([{ name: 'typo', topic: 'a/#', action: { kind: 'webhook', url: 'http://127.0.0.1:9/x' }, tries: 0 }]);
    const server = await startBroker({ vars: { MQTT_RULES_FILE: rules } });
    servers.push(server);
    const res = await fetch(`http://127.0.0.1:${server.port}/api/rules`);
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/rule "typo": tries must be a whole number from 1 to 100/);
    const upgrade = await new Promise<string>((resolve) => {
      const ws = new WebSocket(server.url, 'mqtt');
      const timer = setTimeout(() => resolve('no answer'), 10_000);
      ws.on('open', () => (clearTimeout(timer), ws.close(), resolve('open')));
      ws.on('unexpected-response', (_req, r) => (clearTimeout(timer), resolve(`HTTP ${r.statusCode}`)));
      ws.on('error', () => (clearTimeout(timer), resolve('error')));
    });
    expect(upgrade).toBe('HTTP 500');
  });
});

describe('rules in the sharded topology', () => {
  it('each matching message reaches the sink once, whichever shard owns its topic; republish crosses shards', async () => {
    const hooks = await webhookServer();
    closers.push(hooks.close);
    const levels: string[] = [];
    for (let i = 0; levels.length < 2 && i < 1000; i++) if (shardOfTopic(`s${i}`, 2) === levels.length) levels.push(`s${i}`);
    const rules = JSON.stringify([
      { name: 'all', topic: '+/data/#', action: { kind: 'webhook', url: hooks.url('/all') } },
      { name: 'cross', topic: `${levels[0]}/data/#`, action: { kind: 'republish', topic: `${levels[1]}/copy/{topic}` } },
    ]);
    const server = await startBroker({ vars: { MQTT_GATEWAYS: '2', MQTT_SHARDS: '2', MQTT_SESSION_OBJECTS: '1', MQTT_RULES_FILE: rules } });
    servers.push(server);
    const at = (g: number) => `ws://127.0.0.1:${server.port}/mqtt?gateway=${g}`;
    const sub = await connectMqtt(at(1), { protocolVersion: 5 });
    const box = inbox(sub);
    await sub.subscribeAsync(`${levels[1]}/copy/#`, { qos: 1 });
    const pubs = await Promise.all([0, 1].map((g) => connectMqtt(at(g), { protocolVersion: 5, clientId: uniqueId(`g${g}`) })));
    const sent: string[] = [];
    for (let i = 0; i < 10; i++) {
      for (const [g, pub] of pubs.entries()) {
        for (const level of levels) {
          const payload = `${level}-g${g}-${i}`;
          sent.push(payload);
          await pub.publishAsync(`${level}/data/x`, payload, { qos: 1 });
        }
      }
    }
    await hooks.waitFor(() => hooks.messages('/all').length >= sent.length, 30_000);
    await new Promise((r) => setTimeout(r, 2000)); // nothing more comes
    const got = hooks.messages('/all').map((m) => m.payload);
    expect(got.length).toBe(sent.length);
    expect(new Set(got)).toEqual(new Set(sent));
    // in order per publisher and topic
    for (const p of sent.filter((s) => s.endsWith('-0'))) {
      const prefix = p.slice(0, -1);
      expect(got.filter((s) => s.startsWith(prefix))).toEqual(sent.filter((s) => s.startsWith(prefix)));
    }
    const copies = await Promise.all(Array.from({ length: 20 }, () => box.next(20_000)));
    expect(copies.map((m) => m.payload).sort()).toEqual(sent.filter((s) => s.startsWith(levels[0])).sort());
    expect(copies.every((m) => m.topic === `${levels[1]}/copy/${levels[0]}/data/x`)).toBe(true);

    // the API sums the shards' counters and changes every shard
    const api = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${server.port}${path}`, init);
    type Listed = { rules: Array<{ name: string; counters: { matched: number; delivered: number }; outbox: { messages: number } }> };
    const listed = (await (await api('/api/rules')).json()) as Listed;
    expect(listed.rules.find((r) => r.name === 'all')).toMatchObject({ counters: { matched: 40, delivered: 40 }, outbox: { messages: 0 } });
    expect(listed.rules.find((r) => r.name === 'cross')).toMatchObject({ counters: { matched: 20, delivered: 20 } });
    const put = await api('/api/rules/late', { method: 'PUT', body: JSON.stringify({ topic: '+/late', action: { kind: 'webhook', url: hooks.url('/late') } }) });
    expect(put.status).toBe(201);
    for (const level of levels) await pubs[0].publishAsync(`${level}/late`, level, { qos: 1 });
    await hooks.waitFor(() => hooks.messages('/late').length === 2);
    expect(hooks.messages('/late').map((m) => m.payload).sort()).toEqual([...levels].sort());
    expect((await api('/api/rules/late/disable', { method: 'POST' })).status).toBe(200);
    expect(((await (await api('/api/rules/late')).json()) as { enabled: boolean; counters: { delivered: number } })).toMatchObject({ enabled: false, counters: { delivered: 2 } });
    expect(((await (await api('/api/rules/late/dead-letters')).json()) as { deadLetters: unknown[] }).deadLetters).toEqual([]);
    expect(await (await api('/api/rules/late', { method: 'DELETE' })).json()).toMatchObject({ deleted: 'late', discarded: { outbox: 0, deadLetters: 0 } });
    expect((await api('/api/rules/late')).status).toBe(404);

    // a full outbox on the owning shard refuses a QoS 1 publish through any gateway with 0x97
    hooks.answer((path) => (path === '/never' ? 500 : 200));
    const tiny = { topic: `${levels[1]}/tiny`, outbox: { messages: 1 }, backoff: { initialMs: 600_000, maxMs: 600_000 }, action: { kind: 'webhook', url: hooks.url('/never') } };
    expect((await api('/api/rules/tiny', { method: 'PUT', body: JSON.stringify(tiny) })).status).toBe(201);
    await pubs[0].publishAsync(`${levels[1]}/tiny`, 'fits', { qos: 1 });
    await expect(pubs[1].publishAsync(`${levels[1]}/tiny`, 'refused', { qos: 1 })).rejects.toThrow(/Quota exceeded|151|0x97/i);
    const tinyView = (await (await api('/api/rules/tiny')).json()) as { counters: { refused: number }; outbox: { messages: number } };
    expect(tinyView).toMatchObject({ counters: { refused: 1 }, outbox: { messages: 1 } });
    await Promise.all([sub, ...pubs].map((c) => c.endAsync()));
  });
});
