// The Worker's HTTP side inside workerd: the console's static files, the admin API when no token
// is configured, counters that outlive eviction, and event streams that end with their reader.
import { env, exports } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { saveInterval } from '../../src/edge/meter.ts';
import type { Stats } from '../../src/edge/api/stats.ts';
import { sleep, str, text, WsClient } from './ws-client.ts';

let n = 0;
const namespace = () => `api-${++n}-${Date.now()}`;
const get = (path: string, init?: RequestInit) => exports.default.fetch(`http://broker.test${path}`, init);
const stats = async (ns: string) => (await (await get(`/api/stats?ns=${ns}`)).json()) as Stats;

describe('static console', () => {
  it('serves the console on a plain GET of / and the gauge on /gauge, MQTT.js bundled', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/<title>[^<]*MQTT console/);
    expect(await (await get('/gauge')).text()).toMatch(/<title>[^<]*gauge/i);
    const script = await get('/console.js');
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(await script.text()).toMatch(/MqttClient|mqttjs/);
  });

  it('still answers /mqtt with the short text and upgrades / to MQTT', async () => {
    expect((await get('/mqtt')).status).toBe(426);
    const c = await WsClient.open('/');
    expect(await c.connect('on-root')).toMatchObject({ type: 'connack', reasonCode: 0 });
  });
});

describe('admin API without MQTT_ADMIN_TOKEN', () => {
  it('is open, and answers a malformed namespace with 400 JSON', async () => {
    expect((await get(`/api/stats?ns=${namespace()}`)).status).toBe(200);
    const res = await get('/api/stats?ns=no%20spaces');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'bad-request' });
  });

  it('keeps counters and billed units across eviction (saved by the alarm)', async () => {
    const ns = namespace();
    const c = await WsClient.open(`/mqtt/${ns}`);
    await c.connect('counted');
    c.send({ type: 'publish', topic: 't', payload: text('x'), qos: 1, packetId: 1, retain: true, dup: false });
    await c.next();
    const before = await stats(ns);
    expect(before.received).toMatchObject({ packets: 2, publishes: 1 });
    expect(before.billing).toMatchObject({ websocketMessagesIn: 2 });
    expect(before.billing.requests).toBeGreaterThanOrEqual(2);
    expect(before.billing.rowsWritten).toBeGreaterThan(0);
    await sleep(saveInterval + 1_200); // past any save the requests above may have pushed back
    await runDurableObjectAlarm(env.BROKER.getByName(ns));
    await evictDurableObject(env.BROKER.getByName(ns), { webSockets: 'close' });
    const after = await stats(ns);
    expect(after.received).toEqual(before.received);
    expect(after.sent).toEqual(before.sent);
    expect(after.clients).toMatchObject({ connects: 1, maximum: 1 });
    expect(after.since).toBe(before.since);
    expect(after.billing.requests).toBeGreaterThan(before.billing.requests);
    expect(after.billing.rowsWritten).toBeGreaterThan(before.billing.rowsWritten);
    expect(after.retained).toBe(1);
  });

  it('streams matching messages as events, and forgets a stream whose reader went away', async () => {
    const ns = namespace();
    const abort = new AbortController();
    const res = await get(`/api/subscribe?ns=${ns}&filter=sse/%2B`, { signal: abort.signal });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const pub = await WsClient.open(`/mqtt/${ns}`);
    await pub.connect('pub');
    pub.send({ type: 'publish', topic: 'sse/a', payload: text('hello'), qos: 0, retain: false, dup: false });
    let seen = '';
    for (let i = 0; i < 20 && !seen.includes('hello'); i++) seen += str((await reader.read()).value ?? new Uint8Array());
    expect(seen).toMatch(/event: message\ndata: \{.*"topic":"sse\/a".*"payload":"hello"/s);
    expect((await stats(ns)).eventStreams).toBe(1);
    await reader.cancel();
    abort.abort();
    let open = 1;
    for (let i = 0; i < 200 && open; i++) {
      pub.send({ type: 'publish', topic: 'sse/a', payload: text('anyone?'), qos: 0, retain: false, dup: false });
      await sleep(50);
      open = (await stats(ns)).eventStreams;
    }
    expect(open).toBe(0);
  });

  it('leaves no alarm behind for $SYS: an idle object with a $SYS subscriber can sleep', async () => {
    const ns = namespace();
    const c = await WsClient.open(`/mqtt/${ns}`);
    await c.connect('sys-watcher');
    c.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$SYS/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    expect(await c.next()).toMatchObject({ type: 'suback' });
    expect(await c.next()).toMatchObject({ type: 'publish', retain: true });
    await sleep(saveInterval + 1_200); // past any save the requests above may have pushed back
    await runDurableObjectAlarm(env.BROKER.getByName(ns)); // the counters' save, if not run yet
    const alarm = await runInDurableObject(env.BROKER.getByName(ns), (_o, state) => state.storage.getAlarm());
    expect(alarm).toBeNull();
  });
});
