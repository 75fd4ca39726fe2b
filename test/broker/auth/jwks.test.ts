// Keys from a JWKS URL (RemoteJwks) on the manual clock, against an identity provider played by
// a fetch port: first login, rotation, a flood of unknown kids, the provider down, its cache
// headers, the key set kept in the store across a wake; and EdDSA (Ed25519) keys.
import { describe, expect, it } from 'vitest';
import { JwtVerifier, type JwksPorts } from '../../../src/broker/auth/index.ts';
import type { FetchedJwks, StoredJwks } from '../../../src/broker/ports.ts';
import { connectPacket, type World } from '../harness.ts';
import { makeKey, seconds, sign, type SigningKey } from './tokens.ts';
import { authWorld } from './world.ts';

const url = 'https://idp.example/.well-known/jwks.json';

/** An identity provider: its key set, whether it answers, its Cache-Control max-age, and its fetches. */
class Provider {
  keys: SigningKey[] = [];
  up = true;
  maxAge?: number;
  fetches = 0;
  /** While set, fetches wait for it (to hold one in flight). */
  gate?: Promise<void>;
  readonly stored = new Map<string, StoredJwks>();
  readonly outcomes: boolean[] = [];

  ports(): JwksPorts {
    return {
      fetch: async (target: string): Promise<FetchedJwks> => {
        expect(target).toBe(url);
        this.fetches++;
        await this.gate;
        if (!this.up) throw new Error('connect ECONNREFUSED');
        return { body: JSON.stringify({ keys: this.keys.map((k) => k.jwk) }), maxAge: this.maxAge };
      },
      store: { load: (u) => this.stored.get(u), save: (u, jwks) => void this.stored.set(u, jwks) },
      onFetch: (ok) => void this.outcomes.push(ok),
    };
  }
}

async function connack(w: World, clientId: string, token: string): Promise<number> {
  const c = w.client(5);
  await c.send(connectPacket({ version: 5, clientId, username: 'u', password: token }));
  return c.next('connack').reasonCode;
}

async function setup(jwt: Record<string, unknown> = {}) {
  const provider = new Provider();
  provider.keys = [await makeKey('RS256', 'k1')];
  const world = authWorld({ jwt: { jwksUrl: url, jwksRefreshInterval: 30, ...jwt }, loginGuard: { freeFailures: 1000, freeAddressFailures: 1000 } }, undefined, provider.ports());
  const token = (key: SigningKey, claims: Record<string, unknown> = {}) => sign(key, { sub: 'dev', exp: seconds(world.w.clock.now()) + 600, ...claims });
  return { provider, ...world, token };
}

describe('keys from a JWKS URL', () => {
  it('logs in with a token from the provider: one fetch, then the cached key', async () => {
    const { provider, w, token } = await setup();
    expect(await connack(w, 'a', await token(provider.keys[0]))).toBe(0);
    expect(await connack(w, 'b', await token(provider.keys[0]))).toBe(0);
    expect(provider.fetches).toBe(1);
    expect(provider.outcomes).toEqual([true]);
  });

  it('takes a rotated key after one refresh, at most once per refresh interval', async () => {
    const { provider, w, token, logs } = await setup();
    const old = provider.keys[0];
    expect(await connack(w, 'a', await token(old))).toBe(0);
    const next = await makeKey('ES256', 'k2');
    provider.keys = [next];
    w.clock.advance(10_000);
    expect(await connack(w, 'b', await token(next))).toBe(0x86); // fetched 10 s ago: not again yet
    expect(provider.fetches).toBe(1);
    expect(logs.join('\n')).toMatch(/no ES256 key with kid k2 is configured/);
    w.clock.advance(20_000);
    expect(await connack(w, 'c', await token(next))).toBe(0);
    expect(provider.fetches).toBe(2);
    expect(await connack(w, 'd', await token(old))).toBe(0x86); // gone from the set: refused (kid k1 unknown)
  });

  it('fetches once for a flood of unknown kids, however many arrive at once or later in the interval', async () => {
    const { provider, w, token, auth } = await setup();
    let open!: () => void;
    provider.gate = new Promise((r) => (open = r));
    const stranger = await makeKey('RS256', 'x');
    const flood = Array.from({ length: 50 }, async (_, i) => connack(w, `f${i}`, await sign(stranger, {}, { kid: `forged-${i}` })));
    await new Promise((r) => setTimeout(r, 10));
    open();
    expect(await Promise.all(flood)).toEqual(Array(50).fill(0x86));
    expect(provider.fetches).toBe(1);
    for (let i = 0; i < 20; i++) {
      w.clock.advance(1000);
      expect(await connack(w, `g${i}`, await sign(stranger, {}, { kid: `more-${i}` }))).toBe(0x86);
    }
    expect(provider.fetches).toBe(1);
    w.clock.advance(10_000);
    expect(await connack(w, 'h', await sign(stranger, {}, { kid: 'again' }))).toBe(0x86);
    expect(provider.fetches).toBe(2);
    expect(await connack(w, 'ok', await token(provider.keys[0]))).toBe(0); // the real key was never in doubt
    expect(auth.authenticator.guard.stats.failures).toBe(71);
  });

  it('keeps the last good key set while the provider is down, and never makes a login wait for it', async () => {
    const { provider, w, token, logs } = await setup();
    provider.maxAge = 60;
    expect(await connack(w, 'a', await token(provider.keys[0]))).toBe(0);
    provider.up = false;
    w.clock.advance(61_000); // stale: refreshed behind the login, which the cached key serves
    let open!: () => void;
    provider.gate = new Promise((r) => (open = r));
    expect(await connack(w, 'b', await token(provider.keys[0]))).toBe(0); // answered with the fetch still held
    expect(provider.fetches).toBe(2);
    open();
    await new Promise((r) => setTimeout(r, 10));
    expect(logs.join('\n')).toMatch(/JWKS https:\/\/idp\.example\/\.well-known\/jwks\.json not fetched: connect ECONNREFUSED; keeping the last good key set/);
    expect(provider.outcomes).toEqual([true, false]);
    w.clock.advance(10_000);
    expect(await connack(w, 'c', await token(provider.keys[0]))).toBe(0);
    expect(provider.fetches).toBe(2); // the failed fetch counts toward the interval
  });

  it('refuses with Server unavailable (not counted as a failed login) while no key set was ever fetched', async () => {
    const { provider, w, token, auth } = await setup();
    provider.up = false;
    expect(await connack(w, 'a', await token(provider.keys[0]))).toBe(0x88);
    const c = w.client(4);
    await c.send(connectPacket({ version: 4, clientId: 'b', username: await token(provider.keys[0]) }));
    expect(c.next('connack').reasonCode).toBe(3);
    expect(auth.authenticator.guard.stats.failures).toBe(0);
    provider.up = true;
    w.clock.advance(30_000);
    expect(await connack(w, 'c', await token(provider.keys[0]))).toBe(0);
  });

  it('respects the provider\'s max-age, within the refresh interval and a day', async () => {
    const { provider, w, token } = await setup();
    provider.maxAge = 3600;
    const login = async (id: string) => expect(await connack(w, id, await token(provider.keys[0]))).toBe(0);
    await login('a');
    w.clock.advance(3_599_000);
    await login('b');
    expect(provider.fetches).toBe(1);
    w.clock.advance(1000);
    await login('c');
    expect(provider.fetches).toBe(2); // stale: refreshed behind the login
    provider.maxAge = 0; // no-cache: refreshed at most once per interval
    w.clock.advance(3_600_000);
    await login('d');
    await login('e');
    expect(provider.fetches).toBe(3);
    w.clock.advance(30_000);
    await login('f');
    expect(provider.fetches).toBe(4);
    provider.maxAge = 10 * 86_400; // a year's worth is held to a day
    w.clock.advance(30_000);
    await login('g');
    w.clock.advance(86_400_000);
    await login('h');
    expect(provider.fetches).toBe(6);
  });

  it('finds the key set in its store after a wake, without a fetch', async () => {
    const { provider, w, token } = await setup();
    expect(await connack(w, 'a', await token(provider.keys[0]))).toBe(0);
    const woken = authWorld({ jwt: { jwksUrl: url } }, undefined, provider.ports());
    woken.w.clock.advance(1000);
    expect(await connack(woken.w, 'b', await token(provider.keys[0]))).toBe(0);
    expect(provider.fetches).toBe(1);
    expect(provider.stored.get(url)).toMatchObject({ fetchedAt: w.clock.now(), freshUntil: w.clock.now() + 600_000 });
  });

  it('keeps every refusal\'s reason: expired, wrong issuer or audience, alg none, HS256 signed with a public key, unknown kid', async () => {
    const { provider, w, token, logs } = await setup({ issuer: 'https://idp.example/', audience: 'mqtt', leeway: 0 });
    const key = provider.keys[0];
    const good = { iss: 'https://idp.example/', aud: 'mqtt' };
    expect(await connack(w, 'ok', await token(key, good))).toBe(0);
    const pem = new TextEncoder().encode(key.publicPem);
    const hs = await crypto.subtle.importKey('raw', pem, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const b64 = (v: object) => btoa(JSON.stringify(v)).replace(/=+$/, '');
    const cases: Array<[string, RegExp]> = [
      [await token(key, { ...good, exp: seconds(w.clock.now()) - 1 }), /token expired/],
      [await token(key, { ...good, iss: 'https://evil.example/' }), /issuer is not accepted/],
      [await token(key, { ...good, aud: 'other' }), /audience is not accepted/],
      [`${b64({ alg: 'none', kid: 'k1' })}.${b64({ sub: 'x' })}.`, /algorithm none is not accepted/],
      [await sign({ alg: 'HS256', kid: 'k1', privateKey: hs, jwk: {} }, { ...good, sub: 'x' }), /no HS256 key with kid k1/],
      [await sign({ ...key, kid: 'nope' }, good), /no RS256 key with kid nope/],
    ];
    for (const [i, [bad, reason]] of cases.entries()) {
      w.clock.advance(1000); // one log line a second
      expect(await connack(w, `bad${i}`, bad)).toBe(0x86);
      expect(logs.at(-1)).toMatch(reason);
    }
  });
});

describe('EdDSA (Ed25519)', () => {
  const now = 1_700_000_000_000;

  it('verifies tokens with a PEM key, a JWKS key, and both alg names (EdDSA, Ed25519)', async () => {
    const key = await makeKey('EdDSA', 'ed1');
    for (const verifier of [new JwtVerifier({ publicKeys: key.publicPem }), new JwtVerifier({ jwks: JSON.stringify({ keys: [key.jwk] }) })]) {
      const plain = await sign({ ...key, kid: undefined }, { sub: 'ed' });
      const named = await sign({ ...key, kid: undefined }, { sub: 'ed' }, { alg: 'Ed25519' });
      expect(await verifier.verify(plain, now)).toMatchObject({ sub: 'ed' });
      expect(await verifier.verify(named, now)).toMatchObject({ sub: 'ed' });
    }
    const other = await makeKey('EdDSA');
    await expect(new JwtVerifier({ publicKeys: key.publicPem }).verify(await sign(other, {}), now)).rejects.toThrow(/does not verify/);
  });

  it('refuses a static JWKS with no key it can use, and a PEM key of another kind', async () => {
    expect(() => new JwtVerifier({ jwks: '{"keys": [{"kty": "EC", "crv": "P-384", "x": "", "y": ""}]}' })).toThrow(/no RSA, EC P-256, Ed25519 or oct signing key/);
    const p384 = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as { publicKey: Parameters<typeof crypto.subtle.exportKey>[1] };
    const spki = btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.exportKey('spki', p384.publicKey))));
    const verifier = new JwtVerifier({ publicKeys: `-----BEGIN PUBLIC KEY-----\n${spki}\n-----END PUBLIC KEY-----` });
    await expect(verifier.verify(await sign(await makeKey('ES256'), {}), now)).rejects.toThrow(/neither RSA, EC P-256 nor Ed25519/);
  });
});
