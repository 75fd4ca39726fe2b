// JSON Web Tokens (compact JWS, RFC 7519) verified with jose: HS256 with a shared secret;
// RS256, ES256 and EdDSA (Ed25519) with public keys from configuration (PEM or a JWKS document)
// or from an identity provider's JWKS URL (jwks.ts). `alg: none` and every other algorithm are
// refused; exp and nbf are checked with a leeway, iss and aud when configured. Every refusal is
// Bad User Name or Password (0x86) with its reason in the message, for the log.
import { decodeProtectedHeader, errors, importSPKI, jwtVerify } from 'jose';
import { MqttError, ReasonCode } from '../../protocol/index.ts';
import { isAlg, KeySet, type Alg, type VerifyKey } from './key-set.ts';
import type { RemoteJwks } from './jwks.ts';

export interface JwtConfig {
  /** HS256 shared secret. */
  secret?: string;
  /** One or more PEM public keys (SPKI, "BEGIN PUBLIC KEY"): RSA, EC P-256 or Ed25519. */
  publicKeys?: string;
  /** A JWKS document: {"keys": [...]} with RSA, EC (P-256), OKP (Ed25519) and oct keys. */
  jwks?: string;
  /** An identity provider's JWKS URL (https), fetched and cached by RemoteJwks. */
  jwksUrl?: string;
  /** Least seconds between two fetches of jwksUrl (30). */
  jwksRefreshInterval?: number;
  /** Required `iss`, when set. */
  issuer?: string;
  /** Required in `aud`, when set. */
  audience?: string;
  /** Seconds of clock difference allowed on exp and nbf (30). */
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

/** A configured secret or PEM key: it names no kid, so it fits tokens without one. */
interface ConfiguredKey {
  alg: Alg;
  key: VerifyKey;
}

const fail = (message: string): never => {
  throw new MqttError(ReasonCode.BadUserNameOrPassword, message);
};

/** Three base64url parts, the first a JSON object: a password or user name holding a token. */
export function looksLikeJwt(text: string | undefined): text is string {
  return !!text && text.startsWith('eyJ') && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(text);
}

export class JwtVerifier {
  private readonly config: JwtConfig;
  private readonly jwks?: KeySet;
  private readonly remote?: RemoteJwks;
  private configured?: Promise<ConfiguredKey[]>;

  /** Throws on a JWKS document that is not one: a broken JWKS fails at start, loudly. */
  constructor(config: JwtConfig, remote?: RemoteJwks) {
    this.config = config;
    this.remote = remote;
    if (config.jwks !== undefined) this.jwks = staticJwks(config.jwks);
  }

  /** The token's claims once its signature, exp, nbf, iss and aud are good; throws otherwise. */
  async verify(token: string, nowMs: number): Promise<Claims> {
    const { alg, kid } = readHeader(token);
    const configured = kid === undefined ? await this.configuredKeys(alg) : [];
    const local = [...configured, ...((await this.jwks?.candidates(alg, kid)) ?? [])];
    const claims = await this.tryKeys(token, alg, local, nowMs);
    if (claims) return claims;
    // a JWKS URL never serves shared secrets: an HS256 token never makes the broker fetch
    const remote = this.remote && alg !== 'HS256' ? await this.remote.keys(alg, kid) : [];
    const remoteClaims = await this.tryKeys(token, alg, remote, nowMs);
    if (remoteClaims) return remoteClaims;
    if (local.length || remote.length) return fail('token signature does not verify');
    return fail(`no ${alg} key${kid ? ` with kid ${kid}` : ''} is configured`);
  }

  /** The claims from the first key whose signature verifies; undefined when none does. */
  private async tryKeys(token: string, alg: Alg, keys: VerifyKey[], nowMs: number): Promise<Claims | undefined> {
    const { issuer, audience, leeway = 30 } = this.config;
    for (const key of keys) {
      try {
        const options = { algorithms: [alg], currentDate: new Date(nowMs), clockTolerance: leeway, issuer, audience };
        return (await jwtVerify(token, key, options)).payload as Claims;
      } catch (err) {
        if (err instanceof errors.JWSSignatureVerificationFailed) continue;
        return fail(refusal(err));
      }
    }
    return undefined;
  }

  private async configuredKeys(alg: Alg): Promise<VerifyKey[]> {
    this.configured ??= importConfigured(this.config);
    const family = (a: Alg) => (a === 'Ed25519' ? 'EdDSA' : a);
    return (await this.configured).filter((k) => family(k.alg) === family(alg)).map((k) => k.key);
  }
}

function readHeader(token: string): { alg: Alg; kid?: string } {
  let header: { alg?: unknown; kid?: unknown };
  try {
    header = decodeProtectedHeader(token);
  } catch {
    return fail('token header is not a JSON object');
  }
  if (!isAlg(header.alg)) return fail(`token algorithm ${String(header.alg)} is not accepted`);
  if (header.kid !== undefined && typeof header.kid !== 'string') return fail('token kid is not a string');
  return { alg: header.alg, kid: header.kid };
}

const claimRefusals: Record<string, string> = {
  exp: 'token expired', nbf: 'token not yet valid', iss: 'token issuer is not accepted', aud: 'token audience is not accepted',
};

/** jose's reason, in the words the log has always used. */
function refusal(err: unknown): string {
  if (err instanceof errors.JWTExpired || err instanceof errors.JWTClaimValidationFailed) {
    return claimRefusals[err.claim] ?? `token claim ${err.claim} is not accepted`;
  }
  if (err instanceof errors.JWTInvalid && /Claims Set/.test(err.message)) return 'token payload is not a JSON object';
  return `token is not accepted: ${err instanceof Error ? err.message : String(err)}`;
}

function staticJwks(text: string): KeySet {
  let set: KeySet;
  try {
    set = KeySet.parse(text);
  } catch (err) {
    return configError((err as Error).message);
  }
  if (!set.usable(true)) configError('the JWKS has no RSA, EC P-256, Ed25519 or oct signing key');
  return set;
}

async function importConfigured(config: JwtConfig): Promise<ConfiguredKey[]> {
  const keys: ConfiguredKey[] = [];
  if (config.secret) keys.push({ alg: 'HS256', key: new TextEncoder().encode(config.secret) });
  for (const [pem] of (config.publicKeys ?? '').matchAll(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g)) {
    keys.push(await importPem(pem));
  }
  return keys;
}

/** A PEM key names no algorithm: RSA if it imports as RSA, else EC P-256, else Ed25519. */
async function importPem(pem: string): Promise<ConfiguredKey> {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    try {
      return { alg, key: await importSPKI(pem, alg) };
    } catch {
      // try the next kind
    }
  }
  return configError('a PEM public key is neither RSA, EC P-256 nor Ed25519');
}

function configError(message: string): never {
  throw new MqttError(ReasonCode.ImplementationSpecificError, `JWT configuration: ${message}`);
}
