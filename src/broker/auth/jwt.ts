// JSON Web Tokens (compact JWS) checked with WebCrypto: HS256 with a shared secret, RS256 and
// ES256 with public keys from configuration (PEM or a JWKS document). `alg: none` and any other
// algorithm are refused; exp and nbf are checked with a small leeway.
import { MqttError, ReasonCode } from '../../protocol/index.ts';
import { fromBase64 } from './base64.ts';

export interface JwtConfig {
  /** HS256 shared secret. */
  secret?: string;
  /** One or more PEM public keys (SPKI, "BEGIN PUBLIC KEY"), RSA or EC P-256. */
  publicKeys?: string;
  /** A JWKS document: {"keys": [...]} with RSA, EC (P-256) and oct keys. */
  jwks?: string;
  /** Required `iss`, when set. */
  issuer?: string;
  /** Required in `aud`, when set. */
  audience?: string;
  /** Seconds of clock difference allowed on exp and nbf. */
  leeway?: number;
}

export interface Claims {
  sub?: string;
  exp?: number;
  nbf?: number;
  iss?: string;
  aud?: string | string[];
  [claim: string]: unknown;
}

type Alg = 'HS256' | 'RS256' | 'ES256';
/** WebCrypto's own types, taken from the global so they hold in Node and in workerd alike. */
type Subtle = typeof crypto.subtle;
type CryptoKey = Awaited<ReturnType<Subtle['importKey']>>;
type ImportParams = Parameters<Subtle['importKey']>[2];
type VerifyParams = Parameters<Subtle['verify']>[0];

interface VerifyKey {
  alg: Alg;
  kid?: string;
  key: CryptoKey;
}

const algorithms: Record<Alg, { import: ImportParams; verify: VerifyParams }> = {
  HS256: { import: { name: 'HMAC', hash: 'SHA-256' }, verify: 'HMAC' },
  RS256: { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, verify: 'RSASSA-PKCS1-v1_5' },
  ES256: { import: { name: 'ECDSA', namedCurve: 'P-256' }, verify: { name: 'ECDSA', hash: 'SHA-256' } },
};

const utf8 = new TextEncoder();
const fail = (message: string): never => {
  throw new MqttError(ReasonCode.BadUserNameOrPassword, message);
};

/** Three base64url parts, the first a JSON object: a password or user name holding a token. */
export function looksLikeJwt(text: string | undefined): text is string {
  return !!text && text.startsWith('eyJ') && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(text);
}

export class JwtVerifier {
  private readonly config: JwtConfig;
  private keys?: Promise<VerifyKey[]>;

  constructor(config: JwtConfig) {
    this.config = config;
    if (config.jwks !== undefined) parseJwks(config.jwks); // a broken JWKS fails at start, loudly
  }

  /** The token's claims once its signature, exp, nbf, iss and aud are good; throws otherwise. */
  async verify(token: string, nowMs: number): Promise<Claims> {
    const [head, body, signature] = token.split('.');
    const header = decodeJson(head, 'header') as { alg?: string; kid?: string };
    const alg = header.alg as Alg;
    if (!(alg in algorithms)) fail(`token algorithm ${String(header.alg)} is not accepted`);
    const candidates = (await this.loadKeys()).filter((k) => k.alg === alg && (header.kid === undefined || k.kid === header.kid));
    if (!candidates.length) fail(`no ${alg} key${header.kid ? ` with kid ${header.kid}` : ''} is configured`);
    const sig = fromBase64(signature) ?? fail('token signature is not base64url');
    const signed = utf8.encode(`${head}.${body}`);
    let valid = false;
    for (const k of candidates) valid ||= await crypto.subtle.verify(algorithms[alg].verify, k.key, sig, signed);
    if (!valid) fail('token signature does not verify');
    const claims = decodeJson(body, 'payload') as Claims;
    this.checkClaims(claims, nowMs / 1000);
    return claims;
  }

  private checkClaims(claims: Claims, now: number): void {
    const leeway = this.config.leeway ?? 30;
    if (claims.exp !== undefined && (typeof claims.exp !== 'number' || now > claims.exp + leeway)) fail('token expired');
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || now + leeway < claims.nbf)) fail('token not yet valid');
    const { issuer, audience } = this.config;
    if (issuer !== undefined && claims.iss !== issuer) fail('token issuer is not accepted');
    const aud = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (audience !== undefined && !aud.includes(audience)) fail('token audience is not accepted');
  }

  private loadKeys(): Promise<VerifyKey[]> {
    this.keys ??= importKeys(this.config);
    return this.keys;
  }
}

function decodeJson(part: string | undefined, what: string): object {
  const bytes = part === undefined ? undefined : fromBase64(part);
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch {
    // reported below
  }
  return fail(`token ${what} is not a JSON object`);
}

async function importKeys(config: JwtConfig): Promise<VerifyKey[]> {
  const keys: VerifyKey[] = [];
  if (config.secret) {
    const key = await crypto.subtle.importKey('raw', utf8.encode(config.secret), algorithms.HS256.import, false, ['verify']);
    keys.push({ alg: 'HS256', key });
  }
  for (const der of pemBlocks(config.publicKeys ?? '')) keys.push(await importSpki(der));
  for (const jwk of config.jwks ? parseJwks(config.jwks) : []) keys.push(await importJwk(jwk));
  return keys;
}

function pemBlocks(text: string): Uint8Array[] {
  const blocks = [...text.matchAll(/-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/g)];
  return blocks.map((m) => fromBase64(m[1].replace(/\s+/g, '')) ?? configError('a PEM public key is not base64'));
}

/** A PEM key names no algorithm: RSA if it imports as RSA, else EC P-256. */
async function importSpki(der: Uint8Array): Promise<VerifyKey> {
  for (const alg of ['RS256', 'ES256'] as const) {
    try {
      return { alg, key: await crypto.subtle.importKey('spki', der, algorithms[alg].import, false, ['verify']) };
    } catch {
      // try the next kind
    }
  }
  return configError('a PEM public key is neither RSA nor EC P-256');
}

interface Jwk {
  kty?: string;
  alg?: string;
  kid?: string;
  use?: string;
  key_ops?: string[];
  [member: string]: unknown;
}

function parseJwks(text: string): Jwk[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return configError('the JWKS is not JSON');
  }
  const keys = (doc as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) return configError('the JWKS has no "keys" array');
  return keys as Jwk[];
}

const jwkAlg: Record<string, Alg> = { oct: 'HS256', RSA: 'RS256', EC: 'ES256' };

async function importJwk(jwk: Jwk): Promise<VerifyKey> {
  const alg = jwkAlg[jwk.kty ?? ''] ?? configError(`JWKS key type ${String(jwk.kty)} is not supported`);
  if (jwk.alg !== undefined && jwk.alg !== alg) configError(`JWKS key ${jwk.kid ?? ''} has alg ${jwk.alg}, expected ${alg}`);
  const { kid, use: _use, key_ops: _ops, ...material } = jwk;
  const key = await crypto.subtle.importKey('jwk', material as never, algorithms[alg].import, false, ['verify']);
  return { alg, kid, key };
}

function configError(message: string): never {
  throw new MqttError(ReasonCode.ImplementationSpecificError, `JWT configuration: ${message}`);
}
