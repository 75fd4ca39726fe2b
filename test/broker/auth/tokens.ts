// Test keys and a small JWT signer (WebCrypto), for tokens the broker must accept or refuse.
import { toBase64, toBase64Url } from '../../../src/broker/auth/base64.ts';

const utf8 = new TextEncoder();
const b64url = (value: object) => toBase64Url(utf8.encode(JSON.stringify(value)));

export type Alg = 'HS256' | 'RS256' | 'ES256' | 'EdDSA';
type Key = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

export interface SigningKey {
  alg: Alg;
  kid?: string;
  privateKey: Key;
  /** PEM (RSA/EC) or the secret (HS256): what the broker is configured with. */
  publicPem?: string;
  secret?: string;
  jwk: Record<string, unknown>;
}

const signParams = {
  HS256: 'HMAC',
  RS256: 'RSASSA-PKCS1-v1_5',
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
  EdDSA: 'Ed25519',
} as const;

export async function makeKey(alg: Alg, kid?: string): Promise<SigningKey> {
  if (alg === 'HS256') {
    const secret = `secret-${Math.random().toString(36).slice(2)}`;
    const privateKey = await crypto.subtle.importKey('raw', utf8.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
    const jwk = { ...(await crypto.subtle.exportKey('jwk', privateKey)), kid } as Record<string, unknown>;
    return { alg, kid, privateKey, secret, jwk };
  }
  const params = {
    RS256: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    ES256: { name: 'ECDSA', namedCurve: 'P-256' },
    EdDSA: { name: 'Ed25519' },
  }[alg];
  const pair = (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as { privateKey: Key; publicKey: Key };
  const spki = new Uint8Array((await crypto.subtle.exportKey('spki', pair.publicKey)) as ArrayBuffer);
  const publicPem = `-----BEGIN PUBLIC KEY-----\n${toBase64(spki).match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----\n`;
  const jwk = { ...(await crypto.subtle.exportKey('jwk', pair.publicKey)), kid } as Record<string, unknown>;
  return { alg, kid, privateKey: pair.privateKey, publicPem, jwk };
}

export async function sign(key: SigningKey, claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  const head = b64url({ alg: key.alg, typ: 'JWT', ...(key.kid ? { kid: key.kid } : {}), ...header });
  const body = b64url(claims);
  const signature = await crypto.subtle.sign(signParams[key.alg], key.privateKey, utf8.encode(`${head}.${body}`));
  return `${head}.${body}.${toBase64Url(new Uint8Array(signature))}`;
}

/** Seconds since the epoch for a clock time in ms. */
export const seconds = (ms: number) => Math.floor(ms / 1000);
