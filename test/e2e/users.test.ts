// The user store end to end: users added, changed and deleted with `npm run passwd -- --url`
// (a real process, real HTTP) and the admin API, then MQTT.js logging in as them with passwords
// and SCRAM, held to their own ACL rules, in the default topology and in a sharded namespace
// (store in session object #0, gateways asking it); and every refusal of the /api/users routes.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type IClientOptions, type IConnackPacket } from 'mqtt';
import { connectMqtt, inbox, uniqueId } from './clients.ts';
import { answerToHeaders, sendWhole } from './http.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { ScramClient } from '../broker/auth/scram-client.ts';

const token = 'e2e-admin-token';
const root = join(import.meta.dirname, '../..');

/** `npm run passwd -- <args>` as a user runs it (bounded). */
function passwd(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/passwd.ts', ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** The reason code a refused connect reports, or 0. */
async function refusal(url: string, opts: IClientOptions): Promise<number> {
  try {
    const c = await connectMqtt(url, opts);
    await c.endAsync();
    return 0;
  } catch (err) {
    return (err as { code: number }).code;
  }
}

/** A SCRAM-SHA-256 login through MQTT.js; resolves with the CONNACK's reason code and whether the server proved itself. */
async function scramLogin(url: string, user: string, password: string): Promise<{ code: number; proved: boolean }> {
  const scram = new ScramClient(user, password);
  const method = 'SCRAM-SHA-256';
  const client = mqtt.connect(url, {
    protocolVersion: 5, clientId: uniqueId('scram'), reconnectPeriod: 0, connectTimeout: 10_000,
    properties: { authenticationMethod: method, authenticationData: Buffer.from(scram.first()) },
  });
  client.handleAuth = (packet, callback) => void scram.final(packet.properties!.authenticationData!).then(
    (data) => callback(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: method, authenticationData: Buffer.from(data) } }),
    (err: Error) => callback(err),
  );
  try {
    const connack = await new Promise<IConnackPacket>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    return { code: 0, proved: scram.verify(connack.properties?.authenticationData) };
  } catch (err) {
    return { code: (err as { code: number }).code, proved: false };
  } finally {
    client.end(true);
  }
}

describe('user store end to end', () => {
  let server: BrokerServer;
  let base = '';
  const api = (path: string, init: RequestInit = {}, auth = true) => fetch(`${base}${path}`, {
    ...init, headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
  });
  const mqttUrl = (ns: string, gateway = 0) => `ws://127.0.0.1:${server.port}/mqtt${ns === 'default' ? '' : `/${ns}`}?gateway=${gateway}`;
  const add = (ns: string, user: string, password: string, ...extra: string[]) =>
    passwd(['--url', base, '--ns', ns, '-b', '-I', '1000', ...extra, user, password], { MQTT_ADMIN_TOKEN: token });

  beforeAll(async () => {
    server = await startBroker({
      vars: {
        MQTT_ADMIN_TOKEN: token, MQTT_ALLOW_ANONYMOUS: 'false', MQTT_ENHANCED_AUTH: 'SCRAM-SHA-256',
        MQTT_ACL_FILE: 'pattern readwrite devices/%u/#\n', MQTT_LOGIN_FREE_FAILURES: '1000', MQTT_LOGIN_FREE_ADDRESS_FAILURES: '1000',
        MQTT_GATEWAYS__fleet: '2', MQTT_SHARDS__fleet: '2', MQTT_SESSION_OBJECTS__fleet: '2',
      },
    });
    base = `http://127.0.0.1:${server.port}`;
  }, 90_000);
  afterAll(async () => server?.stop());

  for (const ns of ['default', 'fleet']) {
    describe(ns === 'default' ? 'default topology' : 'sharded namespace (2 gateways, 2 shards, 2 session objects)', () => {
      it('lets a user added with npm run passwd --url log in with MQTT.js on every gateway, and refuses a wrong password', async () => {
        expect(await add(ns, 'sensor-1', 's3cret')).toEqual({ code: 0, stderr: '' });
        for (const gateway of ns === 'fleet' ? [0, 1] : [0]) {
          const v5 = await connectMqtt(mqttUrl(ns, gateway), { protocolVersion: 5, username: 'sensor-1', password: 's3cret' });
          const v4 = await connectMqtt(mqttUrl(ns, gateway), { protocolVersion: 4, username: 'sensor-1', password: 's3cret' });
          await Promise.all([v5.endAsync(), v4.endAsync()]);
          expect(await refusal(mqttUrl(ns, gateway), { protocolVersion: 4, username: 'sensor-1', password: 'guess' })).toBe(4);
        }
        expect(await refusal(mqttUrl(ns), { protocolVersion: 5, username: 'sensor-2', password: 's3cret' })).toBe(0x86);
        expect(await refusal(mqttUrl(ns), { protocolVersion: 5 })).toBe(0x87);
      });

      it('runs SCRAM-SHA-256 for a stored user (no password file at all)', async () => {
        expect((await add(ns, 'scram-user', 'pencil')).code).toBe(0);
        expect(await scramLogin(mqttUrl(ns), 'scram-user', 'pencil')).toEqual({ code: 0, proved: true });
        expect(await scramLogin(mqttUrl(ns), 'scram-user', 'pen')).toEqual({ code: 0x86, proved: false });
      });

      it('holds a user to its own ACL rules (passwd --acl), else to the ACL file\'s, and changes them with PUT /acl', async () => {
        expect((await add(ns, 'ruled', 'r', '--acl', 'readwrite plant/%c/#', '--acl', 'read alerts/#')).code).toBe(0);
        expect(await (await api(`/api/users/ruled?ns=${ns}`)).json()).toEqual({ username: 'ruled', acl: ['readwrite plant/%c/#', 'read alerts/#'] });
        const clientId = uniqueId('ruled');
        const ruled = await connectMqtt(mqttUrl(ns), { protocolVersion: 5, clientId, username: 'ruled', password: 'r' });
        await ruled.subscribeAsync(`plant/${clientId}/#`, { qos: 1 });
        await expect(ruled.subscribeAsync('devices/ruled/#')).rejects.toMatchObject({ packet: { granted: [0x87] } });
        await expect(ruled.publishAsync('alerts/x', 'no', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
        const got = inbox(ruled);
        await ruled.publishAsync(`plant/${clientId}/t`, 'mine', { qos: 1 });
        expect((await got.next()).payload).toBe('mine');
        await ruled.endAsync();
        // the file's pattern for a user without rules of its own
        const plain = await connectMqtt(mqttUrl(ns), { protocolVersion: 5, username: 'sensor-1', password: 's3cret' });
        await plain.subscribeAsync('devices/sensor-1/#', { qos: 1 });
        await expect(plain.subscribeAsync(`plant/${clientId}/#`)).rejects.toMatchObject({ packet: { granted: [0x87] } });
        await plain.endAsync();
        const put = await api(`/api/users/ruled/acl?ns=${ns}`, { method: 'PUT', body: JSON.stringify({ acl: ['read devices/#'] }) });
        expect([put.status, await put.json()]).toEqual([200, { username: 'ruled', acl: ['read devices/#'] }]);
        // a gateway that never looked the user up reads the new rules at once (others within their 60 s cache)
        const after = await connectMqtt(mqttUrl(ns, ns === 'fleet' ? 1 : 0), { protocolVersion: 5, username: 'ruled', password: 'r' });
        await after.subscribeAsync('devices/#', { qos: 1 });
        await expect(after.subscribeAsync(`plant/${clientId}/#`)).rejects.toMatchObject({ packet: { granted: [0x87] } });
        await after.endAsync();
      });

      it('lets in a user with the most rules the store takes (2 KiB of JSON), which ride in its hibernation attachment', async () => {
        const rules = Array.from({ length: 60 }, (_, i) => `readwrite big/${String(i).padStart(2, '0')}/${'x'.repeat(12)}/#`);
        expect(JSON.stringify(rules).length).toBeGreaterThan(1900);
        expect(JSON.stringify(rules).length).toBeLessThanOrEqual(2048);
        const put = await api(`/api/users/big?ns=${ns}`, { method: 'PUT', body: JSON.stringify({ password: 'b', acl: rules }) });
        expect(put.status).toBe(201);
        const big = await connectMqtt(mqttUrl(ns), { protocolVersion: 5, username: 'big', password: 'b' });
        const got = inbox(big);
        const topic = `big/59/${'x'.repeat(12)}/t`;
        await big.subscribeAsync(topic, { qos: 1 });
        await big.publishAsync(topic, 'fits', { qos: 1 });
        expect((await got.next()).payload).toBe('fits');
        await expect(big.publishAsync('big/60/x', 'no', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
        await big.endAsync();
        expect((await api(`/api/users/big?ns=${ns}`, { method: 'DELETE' })).status).toBe(200);
      });

      it('changes a password and deletes a user (passwd -D); the old password and the deleted user are refused', async () => {
        expect((await add(ns, 'temp', 'first')).code).toBe(0);
        expect((await add(ns, 'temp', 'second')).code).toBe(0);
        expect(await refusal(mqttUrl(ns), { protocolVersion: 5, username: 'temp', password: 'first' })).toBe(0x86);
        expect(await passwd(['--url', base, '--ns', ns, '--token', token, '-D', 'temp'])).toEqual({ code: 0, stderr: '' });
        // sharded: gateway 1 never looked this user up, so nothing of it is cached there (gateway 0 keeps it up to 60 s)
        const gateway = ns === 'fleet' ? 1 : 0;
        expect(await refusal(mqttUrl(ns, gateway), { protocolVersion: 5, username: 'temp', password: 'second' })).toBe(0x86);
        expect(await passwd(['--url', base, '--ns', ns, '--token', token, '-D', 'temp'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/404: no user temp/) });
      });

      it('lists users a page at a time, never with their hashes', async () => {
        const first = await (await api(`/api/users?ns=${ns}&limit=1`)).json() as { users: Array<{ username: string }>; next: string };
        expect(first.users).toHaveLength(1);
        const rest = await (await api(`/api/users?ns=${ns}&after=${encodeURIComponent(first.next)}`)).json() as { users: Array<Record<string, unknown>>; next: null };
        expect([first.users[0].username, ...rest.users.map((u) => u.username)]).toEqual(['ruled', 'scram-user', 'sensor-1']);
        expect(rest.next).toBeNull();
        expect(JSON.stringify(rest)).not.toMatch(/pbkdf2/);
      });

      it('refuses bad requests on every route, applying nothing', async () => {
        const q = `?ns=${ns}`;
        const refused = async (path: string, init: RequestInit, status: number, message: RegExp, auth = true) => {
          const res = await api(`${path}${q}`, init, auth);
          expect(res.status).toBe(status);
          expect((await res.json() as { message: string }).message).toMatch(message);
        };
        const put = (body: unknown) => ({ method: 'PUT', body: typeof body === 'string' ? body : JSON.stringify(body) });
        for (const [path, init] of [['/api/users', {}], ['/api/users/x', {}], ['/api/users/x', put({ password: 'p' })], ['/api/users/x', { method: 'DELETE' }], ['/api/users/x/acl', put({ acl: null })]] as const) {
          await refused(path, init, 401, /Bearer/, false);
        }
        await refused('/api/users/x', put('{'), 400, /not JSON/);
        await refused('/api/users/x', put([]), 400, /JSON object/);
        await refused('/api/users/x', put({}), 400, /either password or hash/);
        await refused('/api/users/x', put({ password: 'p', hash: 'h' }), 400, /either password or hash/);
        await refused('/api/users/x', put({ password: '' }), 400, /non-empty/);
        await refused('/api/users/x', put({ password: 7 }), 400, /non-empty string/);
        await refused('/api/users/x', put({ hash: 'plain' }), 400, /pbkdf2-sha256/);
        await refused('/api/users/x', put({ hash: '$pbkdf2-sha256$999$AAAA$AAAA' }), 400, /iterations/);
        await refused('/api/users/x', put({ password: 'p', acl: 'read a' }), 400, /array of rules/);
        await refused('/api/users/x', put({ password: 'p', acl: ['read'] }), 400, /without a topic/);
        await refused('/api/users/x', put({ password: 'p', role: 'admin' }), 400, /unknown field role/);
        // past the limit: refused from its Content-Length before any of it is read; sent whole, that answer
        // may be lost to the reset of the connection closed unread (test/e2e/http.ts), but it is never taken
        const huge = JSON.stringify({ password: 'x'.repeat(70_000) });
        const tooLarge = { status: 413, body: { error: 'too-large', message: expect.stringMatching(/at most 16384 bytes/) } };
        const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
        expect(await answerToHeaders(`${base}/api/users/x${q}`, 'PUT', headers, huge.length)).toEqual(tooLarge);
        expect(await sendWhole(`${base}/api/users/x${q}`, { method: 'PUT', headers, body: huge })).toEqual(expect.toBeOneOf(['closed', tooLarge]));
        await refused(`/api/users/${'u'.repeat(257)}`, put({ password: 'p' }), 400, /1 to 256 bytes/);
        await refused('/api/users/a%0Ab', put({ password: 'p' }), 400, /control characters/);
        await refused('/api/users/%E0%A4%A', put({ password: 'p' }), 400, /well-formed/);
        await refused('/api/users/nobody', {}, 404, /no user nobody/);
        await refused('/api/users/nobody', { method: 'DELETE' }, 404, /no user nobody/);
        await refused('/api/users/nobody/acl', put({ acl: ['read a'] }), 404, /no user nobody/);
        await refused('/api/users/sensor-1/acl', put({ rules: [] }), 400, /"acl"/);
        await refused('/api/users/sensor-1/acl', put({ acl: [`read ${'x'.repeat(2100)}`] }), 400, /2048 bytes/);
        await refused('/api/users/x', { method: 'POST' }, 405, /takes GET, PUT, DELETE/);
        await refused('/api/users?limit=0', {}, 400, /limit/);
        expect((await (await api(`/api/users/x${q}`)).status)).toBe(404); // nothing was applied
        expect(await passwd(['--url', base, '--ns', ns, '--token', 'wrong', '-b', '-I', '1000', 'x', 'p'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/401/) });
      });
    });
  }
});
