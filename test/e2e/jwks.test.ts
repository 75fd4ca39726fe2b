// Tokens from an identity provider's JWKS URL, end to end: a local JWKS server (plain HTTP on
// 127.0.0.1, which only MQTT_TEST_JWKS_ALLOW_HTTP permits), the broker on wrangler dev, MQTT.js
// clients logging in. Rotation, a flood of unknown kids, the provider down (and a broker restart
// while it is), every refusal's reason, the fetch counter, and an http URL refused at start-up.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IClientOptions } from 'mqtt';
import { connectMqtt, uniqueId } from './clients.ts';
import { freePort, startBroker, type BrokerServer } from './server.ts';
import { makeKey, seconds, sign, type SigningKey } from '../broker/auth/tokens.ts';

const issuer = 'https://idp.example/';
const audience = 'mqtt-broker';
const interval = 2; // MQTT_JWT_JWKS_REFRESH_INTERVAL, s

/** The identity provider's JWKS endpoint: the keys it publishes, its max-age, the requests it served. */
class JwksServer {
  keys: SigningKey[] = [];
  maxAge = 3600;
  requests = 0;
  port = 0;
  private server?: Server;

  get url(): string {
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`;
  }

  async start(): Promise<void> {
    this.port ||= await freePort();
    this.server = createServer((req, res) => {
      this.requests++;
      if (req.url !== '/.well-known/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': `public, max-age=${this.maxAge}` });
      res.end(JSON.stringify({ keys: this.keys.map((k) => k.jwk) }));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    const closed = new Promise((resolve) => this.server?.close(resolve));
    this.server?.closeAllConnections();
    await closed;
  }
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tokens from a JWKS URL end to end', () => {
  const idp = new JwksServer();
  let server: BrokerServer;
  let vars: Record<string, string>;
  let rs: SigningKey;
  let ed: SigningKey;
  let es: SigningKey;
  const token = (key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    sign(key, { iss: issuer, aud: audience, sub: 'device-1', exp: seconds(Date.now()) + 600, ...claims }, header);
  const login = async (key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
    refusal(server.url, { protocolVersion: 5, clientId: uniqueId('jwks'), username: 'device', password: await token(key, claims, header) });
  const logged = async (line: RegExp) => {
    for (const until = Date.now() + 5_000; !line.test(server.logs.join('')) && Date.now() < until;) await sleep(50);
    expect(server.logs.join('')).toMatch(line);
  };
  const stats = async () => (await (await fetch(`http://127.0.0.1:${server.port}/api/stats`)).json()) as { jwksFetches: { ok: number; failed: number } };

  beforeAll(async () => {
    [rs, ed, es] = await Promise.all([makeKey('RS256', 'rs-1'), makeKey('EdDSA', 'ed-1'), makeKey('ES256', 'es-2')]);
    idp.keys = [rs, ed];
    await idp.start();
    vars = {
      MQTT_ALLOW_ANONYMOUS: 'false', MQTT_JWT_JWKS_URL: idp.url, MQTT_TEST_JWKS_ALLOW_HTTP: 'true',
      MQTT_JWT_ISSUER: issuer, MQTT_JWT_AUDIENCE: audience, MQTT_JWT_LEEWAY: '0', MQTT_JWT_JWKS_REFRESH_INTERVAL: String(interval),
      MQTT_LOGIN_FREE_FAILURES: '1000', MQTT_LOGIN_FREE_ADDRESS_FAILURES: '1000',
      // a namespace configured with plain http and without the test permission: refused at start-up
      MQTT_TEST_JWKS_ALLOW_HTTP__insecure: 'false',
    };
    server = await startBroker({ vars });
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
    await idp.stop();
  });

  it('logs in MQTT.js clients with tokens from the provider (RS256 and EdDSA): one fetch, then the cache', async () => {
    expect(await login(rs)).toBe(0);
    expect(idp.requests).toBe(1);
    const v311 = await connectMqtt(server.url, { protocolVersion: 4, username: await token(rs) });
    await v311.endAsync();
    expect(await login(ed)).toBe(0);
    expect(idp.requests).toBe(1);
  });

  it('takes a rotated key after one refresh', async () => {
    idp.keys = [es, ed];
    const before = idp.requests;
    const codes: number[] = [];
    for (const until = Date.now() + 15_000; Date.now() < until && codes.at(-1) !== 0; await sleep(250)) codes.push(await login(es));
    expect(codes.at(-1)).toBe(0);
    expect(codes.slice(0, -1).every((c) => c === 0x86)).toBe(true); // refused only while the interval held the fetch back
    expect(idp.requests - before).toBe(1);
  });

  it('fetches at most once per refresh interval for a flood of tokens with unknown kids', async () => {
    await sleep(interval * 1000 + 100);
    const before = idp.requests;
    const start = Date.now();
    const codes = await Promise.all(Array.from({ length: 30 }, (_, i) => login(rs, {}, { kid: `forged-${i}` })));
    const elapsed = Date.now() - start;
    expect(codes).toEqual(Array(30).fill(0x86));
    expect(idp.requests - before).toBeGreaterThanOrEqual(1);
    expect(idp.requests - before).toBeLessThanOrEqual(1 + Math.floor(elapsed / (interval * 1000)));
    expect(await login(es)).toBe(0);
  });

  it('refuses every bad token with 0x86 and logs why', async () => {
    const pem = new TextEncoder().encode(es.publicPem);
    const hmac = await crypto.subtle.importKey('raw', pem, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const cases: Array<[string, () => Promise<string>, RegExp]> = [
      ['expired', () => token(es, { exp: seconds(Date.now()) - 60 }), /token expired/],
      ['wrong issuer', () => token(es, { iss: 'https://evil.example/' }), /token issuer is not accepted/],
      ['wrong audience', () => token(es, { aud: 'another-api' }), /token audience is not accepted/],
      ['alg none', async () => `${b64({ alg: 'none', kid: 'es-2' })}.${b64({ iss: issuer, aud: audience, sub: 'x' })}.`, /token algorithm none is not accepted/],
      ['HS256 signed with the public key', () => sign({ alg: 'HS256', kid: 'es-2', privateKey: hmac, jwk: {} }, { iss: issuer, aud: audience }), /no HS256 key with kid es-2/],
      ['unknown kid', () => token(rs, {}, { kid: 'not-published' }), /no RS256 key with kid not-published/],
    ];
    for (const [name, make, reason] of cases) {
      await sleep(1100); // the failed-login log writes one line a second
      const clientId = uniqueId(name.replace(/\W/g, '-'));
      expect([name, await refusal(server.url, { protocolVersion: 5, clientId, username: 'device', password: await make() })]).toEqual([name, 0x86]);
      await logged(new RegExp(`login failed: client ${clientId} from \\S+: ${reason.source}`));
    }
  });

  it('counts its fetches in /api/stats and /metrics', async () => {
    const { jwksFetches } = await stats();
    expect(jwksFetches).toEqual({ ok: idp.requests, failed: 0 });
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^mqtt_jwks_fetches_total\\{namespace="default",reason="ok"\\} ${idp.requests}$`, 'm'));
  });

  it('keeps logging in with the cached keys while the provider is down, and after a broker restart', async () => {
    idp.maxAge = 0; // what is fetched next is stale at once: every later login refreshes behind itself
    await sleep(interval * 1000 + 100);
    expect(await login(rs, {}, { kid: 'refresh-now' })).toBe(0x86); // fetches the no-cache set
    await idp.stop();
    await sleep(interval * 1000 + 100);
    expect(await login(es)).toBe(0); // served from the cache; the refresh behind it fails
    await logged(/JWKS http:\/\/127\.0\.0\.1:\d+\/\.well-known\/jwks\.json not fetched: .*; keeping the last good key set/);
    for (const until = Date.now() + 5_000; (await stats()).jwksFetches.failed === 0 && Date.now() < until;) await sleep(100);
    expect((await stats()).jwksFetches.failed).toBeGreaterThanOrEqual(1);

    await server.stop();
    server = await startBroker({ vars, persistTo: server.persistTo });
    expect(await login(es)).toBe(0); // the last good set, from SQLite
    expect(await login(ed)).toBe(0);
    expect(await login(rs)).toBe(0x86); // rotated out before the provider went down
  }, 90_000);

  it('refuses at start-up a plain http JWKS URL that the test permission does not cover', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/mqtt/insecure`);
    expect(res.status).toBe(500);
    await logged(/MQTT_JWT_JWKS_URL must be an https:\/\/ URL/);
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/mqtt/insecure`, 'mqtt');
    const opened = await new Promise<boolean>((resolve) => {
      ws.onopen = () => resolve(true);
      ws.onerror = ws.onclose = () => resolve(false);
      setTimeout(() => resolve(true), 10_000);
    });
    ws.close();
    expect(opened).toBe(false); // no MQTT at all in that namespace until its configuration is fixed
  });
});
