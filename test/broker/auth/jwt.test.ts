import { describe, expect, it } from 'vitest';
import { JwtVerifier, looksLikeJwt } from '../../../src/broker/auth/index.ts';
import { makeKey, seconds, sign } from './tokens.ts';

const now = 1_700_000_000_000;
const reason = async (p: Promise<unknown>) => p.then(() => 'accepted', (e: Error) => e.message);

describe('JWT verification', () => {
  it.each(['HS256', 'RS256', 'ES256'] as const)('accepts a good %s token and returns its claims', async (alg) => {
    const key = await makeKey(alg);
    const verifier = new JwtVerifier(alg === 'HS256' ? { secret: key.secret } : { publicKeys: key.publicPem });
    const token = await sign(key, { sub: 'dev1', exp: seconds(now) + 60 });
    expect(looksLikeJwt(token)).toBe(true);
    expect(await verifier.verify(token, now)).toMatchObject({ sub: 'dev1' });
  });

  it('accepts keys from a JWKS, choosing by kid', async () => {
    const [rsa, ec, hs] = await Promise.all([makeKey('RS256', 'r1'), makeKey('ES256', 'e1'), makeKey('HS256', 'h1')]);
    const verifier = new JwtVerifier({ jwks: JSON.stringify({ keys: [rsa.jwk, ec.jwk, hs.jwk] }) });
    for (const key of [rsa, ec, hs]) expect(await verifier.verify(await sign(key, { sub: key.kid }), now)).toMatchObject({ sub: key.kid });
    expect(await reason(verifier.verify(await sign(rsa, {}, { kid: 'nope' }), now))).toMatch(/kid nope/);
  });

  it('refuses a token signed by another key, or altered after signing', async () => {
    const [good, other] = [await makeKey('ES256'), await makeKey('ES256')];
    const verifier = new JwtVerifier({ publicKeys: good.publicPem });
    expect(await reason(verifier.verify(await sign(other, { sub: 'x' }), now))).toMatch(/does not verify/);
    const [h, , s] = (await sign(good, { sub: 'x' })).split('.');
    const forged = `${h}.${btoa(JSON.stringify({ sub: 'admin' })).replace(/=+$/, '')}.${s}`;
    expect(await reason(verifier.verify(forged, now))).toMatch(/does not verify/);
  });

  it('refuses alg none and algorithms it has no key for (no RS256/HS256 confusion)', async () => {
    const rsa = await makeKey('RS256');
    const verifier = new JwtVerifier({ publicKeys: rsa.publicPem });
    const unsigned = `${btoa('{"alg":"none"}').replace(/=+$/, '')}.${btoa('{"sub":"x"}').replace(/=+$/, '')}.`;
    expect(await reason(verifier.verify(unsigned, now))).toMatch(/algorithm none/);
    // an HS256 token whose "secret" is the public key text must not pass
    const hs = await crypto.subtle.importKey('raw', new TextEncoder().encode(rsa.publicPem), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const forged = await sign({ alg: 'HS256', privateKey: hs, jwk: {} }, { sub: 'x' });
    expect(await reason(verifier.verify(forged, now))).toMatch(/no HS256 key/);
  });

  it('checks exp and nbf with the leeway, and iss and aud when configured', async () => {
    const key = await makeKey('HS256');
    const verifier = new JwtVerifier({ secret: key.secret, leeway: 5, issuer: 'me', audience: 'mqtt' });
    const t = seconds(now);
    const ok = { iss: 'me', aud: ['web', 'mqtt'] };
    expect(await reason(verifier.verify(await sign(key, { ...ok, exp: t - 4 }), now))).toBe('accepted');
    expect(await reason(verifier.verify(await sign(key, { ...ok, exp: t - 6 }), now))).toMatch(/expired/);
    expect(await reason(verifier.verify(await sign(key, { ...ok, nbf: t + 6 }), now))).toMatch(/not yet valid/);
    expect(await reason(verifier.verify(await sign(key, { ...ok, exp: 'soon' }), now))).toMatch(/expired/);
    expect(await reason(verifier.verify(await sign(key, { ...ok, iss: 'you' }), now))).toMatch(/issuer/);
    expect(await reason(verifier.verify(await sign(key, { ...ok, aud: 'web' }), now))).toMatch(/audience/);
  });

  it('fails loudly on a JWKS that is not one', () => {
    expect(() => new JwtVerifier({ jwks: '{"keys": 1}' })).toThrow(/keys/);
    expect(() => new JwtVerifier({ jwks: 'nope' })).toThrow(/not JSON/);
  });

  it('tells a token from a password', () => {
    expect(looksLikeJwt('hunter2')).toBe(false);
    expect(looksLikeJwt('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig')).toBe(true);
    expect(looksLikeJwt('eyJ.a.b.c')).toBe(false);
  });
});
