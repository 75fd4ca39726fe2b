// A JWKS document's signing keys (RFC 7517), picked for a token by its alg and kid and imported
// once each with jose. Keys of other types, curves or uses (a provider's encryption keys) are
// skipped; a token with a kid takes only the key with that kid. key_ops is not read (RFC 7517
// 4.3: `use` is what a public signing key carries).
import { importJWK } from 'jose';
import { MqttError, ReasonCode } from '../../protocol/index.ts';

/** Token algorithms accepted: EdDSA and Ed25519 (RFC 9864) both mean Ed25519. */
export const algorithms = ['HS256', 'RS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
export type Alg = (typeof algorithms)[number];

/** What jose verifies with: a WebCrypto key, or an HS256 secret's bytes. */
export type VerifyKey = Awaited<ReturnType<typeof crypto.subtle.importKey>> | Uint8Array;

export interface Jwk {
  kty?: unknown;
  crv?: unknown;
  alg?: unknown;
  kid?: unknown;
  use?: unknown;
  [member: string]: unknown;
}

const shapes: Record<Alg, { kty: string; crv?: string; algs: string[] }> = {
  HS256: { kty: 'oct', algs: ['HS256'] },
  RS256: { kty: 'RSA', algs: ['RS256'] },
  ES256: { kty: 'EC', crv: 'P-256', algs: ['ES256'] },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', algs: ['EdDSA', 'Ed25519'] },
  Ed25519: { kty: 'OKP', crv: 'Ed25519', algs: ['EdDSA', 'Ed25519'] },
};

export const isAlg = (alg: unknown): alg is Alg => (algorithms as readonly unknown[]).includes(alg);

/** Whether a JWK can verify tokens of `alg` carrying `kid` (undefined: the token names none). */
export function fits(jwk: Jwk, alg: Alg, kid: string | undefined): boolean {
  const shape = shapes[alg];
  return jwk.kty === shape.kty && (shape.crv === undefined || jwk.crv === shape.crv) &&
    (kid === undefined || jwk.kid === kid) && (jwk.alg === undefined || shape.algs.includes(String(jwk.alg))) &&
    (jwk.use === undefined || jwk.use === 'sig');
}

export class KeySet {
  readonly keys: readonly Jwk[];
  private readonly imported = new Map<Jwk, Promise<VerifyKey | undefined>>();

  private constructor(keys: Jwk[]) {
    this.keys = keys;
  }

  /** Parses a JWKS document; throws ImplementationSpecificError when it is not one. */
  static parse(text: string): KeySet {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new MqttError(ReasonCode.ImplementationSpecificError, 'the JWKS is not JSON');
    }
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new MqttError(ReasonCode.ImplementationSpecificError, 'the JWKS has no "keys" array');
    return new KeySet(keys.filter((k): k is Jwk => !!k && typeof k === 'object' && !Array.isArray(k)));
  }

  /** Whether any key fits some accepted algorithm (HS256 only where secrets are allowed). */
  usable(secrets: boolean): boolean {
    return algorithms.some((alg) => (secrets || alg !== 'HS256') && this.keys.some((k) => fits(k, alg, undefined)));
  }

  /** The imported keys fitting a token; a key whose material does not import is skipped. */
  async candidates(alg: Alg, kid: string | undefined): Promise<VerifyKey[]> {
    const keys = await Promise.all(this.keys.filter((k) => fits(k, alg, kid)).map((k) => this.importOnce(k, alg)));
    return keys.filter((k) => k !== undefined);
  }

  private importOnce(jwk: Jwk, alg: Alg): Promise<VerifyKey | undefined> {
    let key = this.imported.get(jwk);
    if (!key) {
      const { kid: _kid, use: _use, key_ops: _ops, alg: _alg, ...material } = jwk; // import as `alg`, whatever the JWK says it may do
      key = importJWK(material as Parameters<typeof importJWK>[0], alg).then((k) => k as VerifyKey, () => undefined);
      this.imported.set(jwk, key);
    }
    return key;
  }
}
