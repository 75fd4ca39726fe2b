// The HTTP admin API over real HTTP against the broker on workerd, with MQTT.js clients on the
// MQTT side: every endpoint, its bad input (4xx JSON, nothing applied) and the admin token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqtt, inbox, RawClient, uniqueId } from './clients.ts';
import { answerToHeaders, sendWhole } from './http.ts';
import { startBroker, type BrokerServer } from './server.ts';

const token = 'e2e-admin-token';
let server: BrokerServer;
beforeAll(async () => {
  server = await startBroker({ vars: { MQTT_ADMIN_TOKEN: token, MQTT_MAX_PACKET_SIZE: '4096' } });
}, 90_000);
afterAll(async () => server?.stop());

const auth = { authorization: `Bearer ${token}` };
function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${server.port}${path}`, { ...init, headers: { ...auth, ...init.headers } });
}
const postJson = (body: unknown, path = '/api/publish') =>
  api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

async function expectError(res: Response, status: number, error?: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await res.json()) as { error: string; message: string };
  expect(body.message).toEqual(expect.any(String));
  if (error) expect(body.error).toBe(error);
}

const endpoints: Array<[string, string]> = [
  ['POST', '/api/publish'], ['GET', '/api/retained'], ['DELETE', '/api/retained?topic=a'], ['GET', '/api/clients'],
  ['GET', '/api/clients/x'], ['DELETE', '/api/clients/x'], ['GET', '/api/subscribe?filter=a'], ['GET', '/api/stats'], ['GET', '/metrics'],
];

describe('admin token', () => {
  it('refuses every endpoint without it or with a wrong one: 401 JSON', async () => {
    for (const [method, path] of endpoints) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: token }] as Array<Record<string, string>>) {
        const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method, headers });
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        await expectError(res, 401, 'unauthorized');
      }
    }
  });

  it('lets the right one through; the console and /mqtt need none', async () => {
    expect((await api('/api/stats')).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${server.port}/mqtt`)).status).toBe(426);
  });
});

describe('POST /api/publish', () => {
  it('delivers to MQTT subscribers with QoS, retain and v5 properties', async () => {
    const topic = uniqueId('api/pub');
    const sub = await connectMqtt(server.url, { protocolVersion: 5 });
    const got = inbox(sub);
    await sub.subscribeAsync(topic, { qos: 1 });
    const properties = {
      contentType: 'application/json', responseTopic: 'replies/x', correlationData: btoa('id-7'),
      userProperties: [['a', '1'], ['a', '2']], messageExpiryInterval: 300, payloadFormatIndicator: 1,
    };
    const res = await postJson({ topic, payload: '{"t":21}', qos: 1, retain: true, properties });
    expect(await res.json()).toEqual({ topic, matched: 1 });
    const m = await got.next();
    expect(m.payload).toBe('{"t":21}');
    expect(m.packet.qos).toBe(1);
    const p = m.packet.properties!;
    expect([p.contentType, p.responseTopic, p.correlationData?.toString(), p.userProperties, p.payloadFormatIndicator])
      .toEqual(['application/json', 'replies/x', 'id-7', { a: ['1', '2'] }, true]);
    expect(p.messageExpiryInterval).toBeGreaterThan(290);
    const late = await connectMqtt(server.url, { protocolVersion: 4 });
    const lateGot = inbox(late);
    await late.subscribeAsync(topic);
    expect(await lateGot.next()).toMatchObject({ payload: '{"t":21}', packet: { retain: true } });
    await Promise.all([sub.endAsync(), late.endAsync()]);
  });

  it('takes a raw body with topic, qos and retain in the query, and base64 payloads in JSON', async () => {
    const topic = uniqueId('api/raw');
    const sub = await connectMqtt(server.url);
    const got = inbox(sub);
    await sub.subscribeAsync(topic, { qos: 2 });
    const raw = await api(`/api/publish?topic=${encodeURIComponent(topic)}&qos=2&retain=false`, { method: 'POST', body: '23.0' });
    expect(raw.status).toBe(200);
    expect(await got.next()).toMatchObject({ topic, payload: '23.0', packet: { qos: 2 } });
    await postJson({ topic, payload: btoa('\u0000\u00ff'), encoding: 'base64' });
    expect([...(await got.next()).packet.payload as Uint8Array]).toEqual([0, 255]);
    await sub.endAsync();
  });

  it('refuses bad input with 4xx JSON and applies none of it', async () => {
    const topic = uniqueId('api/bad');
    const sub = await connectMqtt(server.url);
    const got = inbox(sub);
    await sub.subscribeAsync(`${topic}/#`);
    const base = { topic: `${topic}/x`, payload: 'x', retain: true };
    const cases: Array<[unknown, number, string?]> = [
      ['{not json', 400, 'bad-request'], [[1, 2], 400, 'bad-request'], [{ ...base, retained: true }, 400, 'bad-request'],
      [{ ...base, topic: 7 }, 400], [{ ...base, topic: `${topic}/+` }, 400, 'TopicNameInvalid'],
      [{ ...base, topic: '$SYS/broker/version' }, 403, 'NotAuthorized'], [{ ...base, qos: 3 }, 400],
      [{ ...base, encoding: 'hex' }, 400], [{ ...base, encoding: 'base64', payload: '!!' }, 400],
      [{ ...base, properties: { topicAlias: 1 } }, 400], [{ ...base, properties: { messageExpiryInterval: -1 } }, 400],
      [{ ...base, properties: { userProperties: [['a']] } }, 400], [{ ...base, payload: 'x'.repeat(5000) }, 413, 'PacketTooLarge'],
    ];
    for (const [body, status, error] of cases) await expectError(await postJson(body), status, error);
    // a body past the API's limit is refused from its Content-Length, before any of it is read; sent
    // whole, that answer may be lost to the reset of the connection closed unread, but it is never taken
    const huge = JSON.stringify({ ...base, payload: 'x'.repeat(100_000) });
    const tooLarge = { status: 413, body: { error: 'too-large', message: expect.stringMatching(/at most \d+ bytes/) } };
    const url = `http://127.0.0.1:${server.port}/api/publish`;
    const headers = { ...auth, 'content-type': 'application/json' };
    expect(await answerToHeaders(url, 'POST', headers, huge.length)).toEqual(tooLarge);
    expect(await sendWhole(url, { method: 'POST', headers, body: huge })).toEqual(expect.toBeOneOf(['closed', tooLarge]));
    await expectError(await api('/api/publish', { method: 'POST', body: 'no topic' }), 400);
    await expectError(await api(`/api/publish?topic=${topic}/x&qos=7`, { method: 'POST', body: 'x' }), 400);
    await got.quiet(300);
    expect(await (await api(`/api/retained?filter=${encodeURIComponent(`${topic}/#`)}`)).json()).toMatchObject({ total: 0 });
    await sub.endAsync();
  });
});

describe('retained', () => {
  it('lists by filter and deletes one topic', async () => {
    const root = uniqueId('api/ret');
    const pub = await connectMqtt(server.url);
    for (const leaf of ['b', 'a', 'c/d']) await pub.publishAsync(`${root}/${leaf}`, leaf, { retain: true, qos: 1 });
    const filter = encodeURIComponent(`${root}/+`);
    const listed = (await (await api(`/api/retained?filter=${filter}`)).json()) as { total: number; messages: Array<{ topic: string }> };
    expect(listed.messages.map((m) => m.topic)).toEqual([`${root}/a`, `${root}/b`]);
    expect(await (await api(`/api/retained?filter=${filter}&limit=1`)).json()).toMatchObject({ total: 2, messages: [{ topic: `${root}/a`, payload: 'a', encoding: 'utf8', qos: 1, retain: true }] });
    const del = await api(`/api/retained?topic=${encodeURIComponent(`${root}/a`)}`, { method: 'DELETE' });
    expect(await del.json()).toEqual({ deleted: `${root}/a` });
    await expectError(await api(`/api/retained?topic=${encodeURIComponent(`${root}/a`)}`, { method: 'DELETE' }), 404, 'not-found');
    expect(await (await api(`/api/retained?filter=${filter}`)).json()).toMatchObject({ total: 1 });
    await pub.endAsync();
  });

  it('says how to write # and + when a URL lost them (filter=# as the README once printed it)', async () => {
    const bare = await api('/api/retained?filter=#'); // fetch, like curl, never sends the fragment
    expect(bare.status).toBe(400);
    expect(((await bare.json()) as { message: string }).message).toMatch(/write # as %23/);
    const plus = await api('/api/retained?filter=a/+/b');
    expect(plus.status).toBe(400);
    expect(((await plus.json()) as { message: string }).message).toMatch(/write \+ as %2B/);
    expect((await api('/api/retained?filter=%23&limit=1')).status).toBe(200);
    expect((await api('/api/retained')).status).toBe(200); // no filter: every retained message
  });

  it('refuses malformed filters, topics and limits', async () => {
    for (const path of ['/api/retained?filter=a/%23/b', '/api/retained?filter=%24share/g/a', '/api/retained?limit=0', '/api/retained?limit=x']) {
      await expectError(await api(path), 400);
    }
    await expectError(await api('/api/retained', { method: 'DELETE' }), 400);
    await expectError(await api('/api/retained?topic=a/%2B', { method: 'DELETE' }), 400, 'TopicNameInvalid');
  });
});

describe('clients', () => {
  it('lists, describes and kicks with a reason code', async () => {
    const clientId = uniqueId('api/client');
    const c = await connectMqtt(server.url, { clientId, protocolVersion: 5, username: 'ann' });
    await c.subscribeAsync('api/x/+', { qos: 1 });
    const list = (await (await api('/api/clients')).json()) as { clients: Array<{ clientId: string }> };
    expect(list.clients.find((x) => x.clientId === clientId)).toMatchObject({ connected: true, username: 'ann', protocolVersion: 5 });
    const one = await (await api(`/api/clients/${encodeURIComponent(clientId)}`)).json();
    expect(one).toMatchObject({ clientId, connected: true, queued: 0, subscriptions: [{ topicFilter: 'api/x/+', qos: 1 }] });
    await expectError(await api(`/api/clients/${encodeURIComponent(clientId)}?reasonCode=0`, { method: 'DELETE' }), 400, 'ProtocolError');
    await expectError(await api(`/api/clients/${encodeURIComponent(clientId)}?reasonCode=lots`, { method: 'DELETE' }), 400);
    expect(c.connected).toBe(true);
    const reason = new Promise<number | undefined>((resolve) => c.once('disconnect', (p) => resolve(p.reasonCode)));
    const kicked = await api(`/api/clients/${encodeURIComponent(clientId)}?reasonCode=0x9c`, { method: 'DELETE' });
    expect(await kicked.json()).toEqual({ disconnected: clientId, reasonCode: 0x9c });
    expect(await reason).toBe(0x9c);
    await expectError(await api(`/api/clients/${encodeURIComponent(clientId)}`, { method: 'DELETE' }), 404, 'not-found');
    await expectError(await api('/api/clients/nobody-here'), 404, 'not-found');
    await expectError(await api(`/api/clients/${encodeURIComponent(clientId)}?limit=0`), 400);
    await expectError(await api('/api/clients/%E0%A4%A'), 400);
    c.end(true);
  });
});

describe('a session away', () => {
  it('GET /api/clients/<id> shows the messages queued for it, in order, with their state', async () => {
    const clientId = uniqueId('api/away');
    const root = uniqueId('api/q');
    const away = await connectMqtt(server.url, { clientId, protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } });
    await away.subscribeAsync(`${root}/#`, { qos: 1 });
    await away.endAsync();
    const pub = await connectMqtt(server.url, { protocolVersion: 5 });
    await pub.publishAsync(`${root}/1`, 'first', { qos: 1, properties: { contentType: 'text/plain' } });
    await pub.publishAsync(`${root}/2`, Buffer.from([0xff, 0x00]), { qos: 1 });
    const one = (await (await api(`/api/clients/${encodeURIComponent(clientId)}`)).json()) as Record<string, unknown>;
    expect(one).toMatchObject({
      clientId, connected: false, queued: 2,
      messages: [
        { topic: `${root}/1`, payload: 'first', encoding: 'utf8', qos: 1, retain: false, state: 'queued', properties: { contentType: 'text/plain' } },
        { topic: `${root}/2`, payload: '/wA=', encoding: 'base64', qos: 1, state: 'queued' },
      ],
    });
    const first = (await (await api(`/api/clients/${encodeURIComponent(clientId)}?limit=1`)).json()) as { queued: number; messages: unknown[] };
    expect([first.queued, first.messages.length]).toEqual([2, 1]);
    await pub.endAsync();
  });
});

describe('stats, metrics, routing', () => {
  it('reports counters, gauges and billed units as JSON and as Prometheus text', async () => {
    const c = await connectMqtt(server.url);
    await c.publishAsync(uniqueId('api/s'), 'x', { qos: 1 });
    const refused = await RawClient.connect(server.url, 5, { clientId: 'x'.repeat(200) });
    expect(refused.connack).toMatchObject({ type: 'connack', reasonCode: 0x85 });
    const stats = (await (await api('/api/stats')).json()) as Record<string, any>;
    expect(stats.namespace).toBe('default');
    expect(stats.clients.connected).toBeGreaterThanOrEqual(1);
    expect(stats.received.publishes).toBeGreaterThanOrEqual(1);
    expect(stats.sent.bytes).toBeGreaterThan(0);
    expect(Object.keys(stats.dropped).sort()).toEqual(['expired', 'not-authorized', 'queue-full', 'retained-limit', 'retained-quota', 'too-large']);
    expect(stats.billing).toMatchObject({ requests: expect.any(Number), websocketMessagesIn: expect.any(Number), rowsRead: expect.any(Number), rowsWritten: expect.any(Number) });
    expect(stats.clients.refused.ClientIdentifierNotValid).toBeGreaterThanOrEqual(1);
    expect(stats.billing.billedRequests).toBeCloseTo(stats.billing.requests + stats.billing.websocketMessagesIn / 20);
    const text = await (await api('/metrics')).text();
    for (const line of [/^mqtt_clients_connected\{namespace="default"\} [1-9]/m, /^# TYPE mqtt_messages_received_total counter$/m,
      /^mqtt_messages_dropped_total\{namespace="default",reason="queue-full"\} \d+$/m, /^cloudflare_do_sqlite_rows_written_total\{namespace="default"\} \d+/m,
      /^mqtt_connects_refused_total\{namespace="default",reason="ClientIdentifierNotValid"\} [1-9]/m]) {
      expect(text).toMatch(line);
    }
    await c.endAsync();
  });

  it('addresses another namespace with ?ns=, and nothing crosses', async () => {
    const topic = uniqueId('api/ns');
    const other = await connectMqtt(`${server.url}/other`);
    const dflt = await connectMqtt(server.url);
    const [gotOther, gotDefault] = [inbox(other), inbox(dflt)];
    await Promise.all([other.subscribeAsync(topic), dflt.subscribeAsync(topic)]);
    expect(await (await postJson({ topic, payload: 'ns' }, '/api/publish?ns=other')).json()).toMatchObject({ matched: 1 });
    expect((await gotOther.next()).payload).toBe('ns');
    await gotDefault.quiet(300);
    expect(await (await api('/api/stats?ns=other')).json()).toMatchObject({ namespace: 'other' });
    await expectError(await api('/api/stats?ns=bad%2Fname'), 400);
    await Promise.all([other.endAsync(), dflt.endAsync()]);
  });

  it('answers an unknown path with 404 and a wrong method with 405, both JSON', async () => {
    await expectError(await api('/api/nothing'), 404, 'not-found');
    const res = await api('/api/stats', { method: 'POST' });
    expect(res.headers.get('allow')).toBe('GET');
    await expectError(res, 405, 'method-not-allowed');
  });
});
