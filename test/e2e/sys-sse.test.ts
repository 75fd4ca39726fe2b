// $SYS over MQTT.js and the HTTP event stream (/api/subscribe) over real HTTP, against the broker
// on workerd with a one-second $SYS interval and no admin token (the API is open).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, inbox, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

let server: BrokerServer;
beforeAll(async () => {
  server = await startBroker({ vars: { MQTT_SYS_INTERVAL: '1' } });
}, 90_000);
afterAll(async () => server?.stop());

const http = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${server.port}${path}`, init);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const mosquittoNames = [
  'version', 'uptime', 'clients/connected', 'clients/disconnected', 'clients/total', 'clients/maximum', 'messages/received',
  'messages/sent', 'publish/messages/received', 'publish/messages/sent', 'publish/messages/dropped', 'bytes/received',
  'bytes/sent', 'retained messages/count', 'subscriptions/count', 'store/messages/count',
].map((n) => `$SYS/broker/${n}`);
/** The billed units of the object (the namespace's, in the default topology). */
const costNames = ['requests', 'rpc calls', 'websocket messages in', 'rows read', 'rows written', 'active ms'].map((n) => `$SYS/broker/cloudflare/${n}`);

describe('$SYS', () => {
  it("gives a new subscriber Mosquitto's topics and the billed units, retained, and nothing to a '#' subscriber", async () => {
    const all = await connectMqtt(server.url);
    const sys = await connectMqtt(server.url, { protocolVersion: 5 });
    const [gotAll, gotSys] = [inbox(all), inbox(sys)];
    await all.subscribeAsync('#');
    await sys.subscribeAsync('$SYS/#');
    const seen = new Map<string, string>();
    while (seen.size < mosquittoNames.length + costNames.length) {
      const m = await gotSys.next();
      expect(m.packet.retain).toBe(true);
      seen.set(m.topic, m.payload);
    }
    expect([...seen.keys()].sort()).toEqual([...mosquittoNames, ...costNames].sort());
    expect(Number(seen.get('$SYS/broker/cloudflare/websocket messages in'))).toBeGreaterThan(0);
    expect(Number(seen.get('$SYS/broker/cloudflare/requests'))).toBeGreaterThan(0);
    expect(seen.get('$SYS/broker/version')).toMatch(/^edge-mqtt version \d+\.\d+\.\d+$/);
    expect(seen.get('$SYS/broker/uptime')).toMatch(/^\d+ seconds$/);
    expect(Number(seen.get('$SYS/broker/clients/connected'))).toBeGreaterThanOrEqual(2);
    expect(gotAll.items.filter((m) => m.topic.startsWith('$'))).toEqual([]);
    await Promise.all([all.endAsync(), sys.endAsync()]);
  });

  it('sends live subscribers changed figures, at most once per interval, on activity', async () => {
    const sub = await connectMqtt(server.url);
    const got = inbox(sub);
    await sub.subscribeAsync('$SYS/broker/publish/messages/received');
    const first = await got.next();
    expect(first.packet.retain).toBe(true);
    const pub = await connectMqtt(server.url);
    let latest = Number(first.payload);
    const until = Date.now() + 10_000;
    while (latest < Number(first.payload) + 2 && Date.now() < until) {
      await pub.publishAsync(uniqueId('sys/load'), 'x', { qos: 1 }); // activity: refreshes happen at the end of events
      await sleep(300);
      for (const m of got.items.splice(0)) latest = Number(m.payload);
    }
    expect(latest).toBeGreaterThanOrEqual(Number(first.payload) + 2);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });

  it('refuses client publishes into $SYS [NotAuthorized]', async () => {
    const c = await connectMqtt(server.url, { protocolVersion: 5 });
    const refusal = await c.publishAsync('$SYS/broker/version', 'fake', { qos: 1, retain: true }).catch((err: { code?: number }) => err);
    expect(refusal).toMatchObject({ code: 0x87 });
    await c.endAsync();
  });
});

/** Reads `data:` lines of `message` events from an event stream, bounded in time. */
function events(res: Response) {
  const reader = res.body!.getReader();
  let buffer = '';
  return async function next(timeoutMs = 5_000): Promise<Record<string, any>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const match = /event: message\ndata: (.*)\n\n/.exec(buffer);
      if (match) {
        buffer = buffer.slice(match.index + match[0].length);
        return JSON.parse(match[1]);
      }
      if (Date.now() > until) throw new Error(`no event within ${timeoutMs} ms`);
      const timer = sleep(until - Date.now()).then(() => ({ value: undefined, done: false }));
      const { value, done } = await Promise.race([reader.read(), timer]);
      if (done) throw new Error('the stream ended');
      if (value) buffer += new TextDecoder().decode(value);
    }
  };
}

describe('GET /api/subscribe (Server-Sent Events)', () => {
  it('streams retained matches first, then live messages with their properties', async () => {
    const root = uniqueId('sse');
    const pub = await connectMqtt(server.url, { protocolVersion: 5 });
    await pub.publishAsync(`${root}/kept`, 'old', { qos: 1, retain: true });
    const abort = new AbortController();
    const res = await http(`/api/subscribe?filter=${encodeURIComponent(`${root}/#`)}`, { signal: abort.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const next = events(res);
    expect(await next()).toEqual({ topic: `${root}/kept`, payload: 'old', encoding: 'utf8', qos: 1, retain: true });
    await pub.publishAsync(`${root}/live`, Buffer.from([0xff, 0x00]), { qos: 1, properties: { contentType: 'bytes' } });
    expect(await next()).toEqual({ topic: `${root}/live`, payload: '/wA=', encoding: 'base64', qos: 1, retain: false, properties: { contentType: 'bytes' } });
    await http('/api/publish', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: `${root}/api`, payload: 'via http' }) });
    expect(await next()).toMatchObject({ topic: `${root}/api`, payload: 'via http' });
    abort.abort();
    await pub.endAsync();
  });

  it('carries $SYS figures', async () => {
    const abort = new AbortController();
    const next = events(await http('/api/subscribe?filter=%24SYS/broker/version', { signal: abort.signal }));
    expect((await next()).payload).toMatch(/^edge-mqtt version/);
    abort.abort();
  });

  it('forgets a stream once its client goes away (noticed at its next write)', async () => {
    const topic = uniqueId('sse/gone');
    const open = async () => ((await (await http('/api/stats')).json()) as { eventStreams: number }).eventStreams;
    const before = await open();
    const abort = new AbortController();
    await http(`/api/subscribe?filter=${encodeURIComponent(topic)}`, { signal: abort.signal });
    expect(await open()).toBe(before + 1);
    abort.abort();
    const pub = await connectMqtt(server.url);
    let now = before + 1;
    for (let i = 0; i < 100 && now > before; i++) {
      await pub.publishAsync(topic, 'anyone there?');
      await sleep(100);
      now = await open();
    }
    expect(now).toBeLessThanOrEqual(before);
    await pub.endAsync();
  });

  it('refuses a missing or malformed filter with 400 JSON before streaming', async () => {
    for (const path of ['/api/subscribe', '/api/subscribe?filter=a/%23/b', '/api/subscribe?filter=%24share/g/t']) {
      const res = await http(path);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: expect.any(String) });
    }
  });
});
