// The JWKS fetch inside workerd: one bounded subrequest (time, size, no redirect followed), the
// provider's cache lifetime from its headers, the last good set in SQLite, and the URL checks.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { JwtVerifier } from '../../src/broker/auth/index.ts';
import { authConfigFromEnv } from '../../src/edge/auth/config.ts';
import { cacheLifetime, jwksFetcher } from '../../src/edge/auth/jwks-fetch.ts';
import { SqliteJwksStore } from '../../src/edge/sqlite/jwks-store.ts';
import { migrate } from '../../src/edge/sqlite/schema.ts';
import { Sql } from '../../src/edge/sqlite/sql.ts';
import { makeKey, sign } from '../broker/auth/tokens.ts';

const url = 'https://idp.example/jwks.json';
const jwks = '{"keys":[]}';
const limits = { timeoutMs: 200, maxBytes: 1024 };
const reason = (p: Promise<unknown>) => p.then(() => 'fetched', (e: Error) => e.message);

/** A fetch that records its calls and answers with `respond`. */
function sender(respond: () => Response | Promise<Response>) {
  const calls: RequestInit[] = [];
  const send = (async (_input: RequestInfo | URL, init?: RequestInit) => (calls.push(init!), respond())) as typeof fetch;
  return { calls, send };
}

const stalled = () => new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new TextEncoder().encode('{"keys":')) });

describe('fetching a JWKS', () => {
  it('makes one request, refusing redirects, and returns the body with its cache lifetime', async () => {
    const { calls, send } = sender(() => new Response(jwks, { headers: { 'cache-control': 'public, max-age=3600', age: '600' } }));
    expect(await jwksFetcher(send, limits)(url)).toEqual({ body: jwks, maxAge: 3000 });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ redirect: 'manual' });
    expect(calls[0].signal).toBeInstanceOf(AbortSignal);
  });

  it('refuses anything but a 200, naming where a redirect points', async () => {
    const moved = sender(() => new Response(null, { status: 302, headers: { location: 'https://elsewhere.example/jwks' } }));
    expect(await reason(jwksFetcher(moved.send, limits)(url))).toBe('HTTP 302 (redirects to https://elsewhere.example/jwks: configure that URL)');
    expect(moved.calls).toHaveLength(1);
    expect(await reason(jwksFetcher(sender(() => new Response('no', { status: 503 })).send, limits)(url))).toBe('HTTP 503');
  });

  it('refuses a body larger than the limit, whether announced or streamed', async () => {
    const big = 'x'.repeat(1025);
    expect(await reason(jwksFetcher(sender(() => new Response(big)).send, limits)(url))).toBe('response larger than 1024 bytes');
    const streamed = () => new Response(new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(300)) }));
    expect(await reason(jwksFetcher(sender(streamed).send, limits)(url))).toBe('response larger than 1024 bytes');
  });

  it('gives up after the timeout, before the headers or in the middle of the body', async () => {
    const never = sender(() => new Promise<Response>(() => {}));
    expect(await reason(jwksFetcher(never.send, limits)(url))).toBe('no answer within 200 ms');
    const slow = sender(() => new Response(stalled()));
    expect(await reason(jwksFetcher(slow.send, limits)(url))).toBe('no answer within 200 ms');
  });

  it('reads the lifetime from Cache-Control, else Expires less Date', () => {
    const life = (headers: Record<string, string>) => cacheLifetime(new Headers(headers), Date.parse('2026-11-29T12:00:00Z'));
    expect(life({})).toBeUndefined();
    expect(life({ 'cache-control': 'max-age=600' })).toBe(600);
    expect(life({ 'cache-control': 'max-age=60', age: '100' })).toBe(0);
    expect(life({ 'cache-control': 'no-cache, max-age=600' })).toBe(0);
    expect(life({ 'cache-control': 'no-store' })).toBe(0);
    expect(life({ expires: 'Sun, 29 Nov 2026 13:00:00 GMT', date: 'Sun, 29 Nov 2026 12:30:00 GMT' })).toBe(1800);
    expect(life({ expires: 'Sun, 29 Nov 2026 13:00:00 GMT' })).toBe(3600);
    expect(life({ expires: '0' })).toBe(0);
  });
});

describe('the last good JWKS in SQLite', () => {
  it('is saved by URL and read back, as a wake or restart reads it', async () => {
    await runInDurableObject(env.BROKER.getByName(`jwks-store-${Date.now()}`), (_instance, state) => {
      const sql = new Sql(state.storage.sql);
      migrate(sql);
      const store = new SqliteJwksStore(sql);
      expect(store.load(url)).toBeUndefined();
      store.save(url, { body: jwks, fetchedAt: 1, freshUntil: 2 });
      store.save(url, { body: jwks, fetchedAt: 3, freshUntil: 4 });
      expect(new SqliteJwksStore(sql).load(url)).toEqual({ body: jwks, fetchedAt: 3, freshUntil: 4 });
    });
  });
});

describe('MQTT_JWT_JWKS_URL', () => {
  it('is read per namespace with its refresh interval, and turns JWT on by itself', () => {
    const config = authConfigFromEnv({ 'MQTT_JWT_JWKS_URL__plant-a': url, MQTT_JWT_JWKS_REFRESH_INTERVAL: '60' }, 'plant-a');
    expect(config.jwt).toMatchObject({ jwksUrl: url, jwksRefreshInterval: 60 });
    expect(authConfigFromEnv({ MQTT_JWT_JWKS_URL__x: url }, 'plant-b').jwt).toBeUndefined();
  });

  it('must be https: plain http is a start-up error, but for loopback hosts where the tests allow it', () => {
    const http = 'http://127.0.0.1:9999/jwks.json';
    expect(() => authConfigFromEnv({ MQTT_JWT_JWKS_URL: 'http://idp.example/jwks.json' }, 'n')).toThrow(/MQTT_JWT_JWKS_URL must be an https:\/\/ URL/);
    expect(() => authConfigFromEnv({ MQTT_JWT_JWKS_URL: http }, 'n')).toThrow(/plain http is for tests only/);
    expect(() => authConfigFromEnv({ MQTT_JWT_JWKS_URL: 'jwks.json' }, 'n')).toThrow(/is not a URL/);
    expect(() => authConfigFromEnv({ MQTT_JWT_JWKS_URL: 'http://idp.example/jwks.json', MQTT_TEST_JWKS_ALLOW_HTTP: 'true' }, 'n')).toThrow(/https/);
    expect(authConfigFromEnv({ MQTT_JWT_JWKS_URL: http, MQTT_TEST_JWKS_ALLOW_HTTP: 'true' }, 'n').jwt?.jwksUrl).toBe(http);
    expect(() => authConfigFromEnv({ MQTT_JWT_JWKS_URL: 'ftp://idp.example/jwks.json' }, 'n')).toThrow(/https/);
  });
});

describe('EdDSA in workerd', () => {
  it('verifies an Ed25519 token with jose, from a PEM key and from a JWKS', async () => {
    const key = await makeKey('EdDSA', 'ed');
    const token = await sign(key, { sub: 'board-1' });
    expect(await new JwtVerifier({ jwks: JSON.stringify({ keys: [key.jwk] }) }).verify(token, Date.now())).toMatchObject({ sub: 'board-1' });
    const plain = await sign({ ...key, kid: undefined }, { sub: 'board-2' });
    expect(await new JwtVerifier({ publicKeys: key.publicPem }).verify(plain, Date.now())).toMatchObject({ sub: 'board-2' });
  });
});
