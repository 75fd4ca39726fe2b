// Password entries: salted PBKDF2-SHA256 through WebCrypto, in a mosquitto_passwd-like file of
// `user:$pbkdf2-sha256$<iterations>$<salt>$<hash>` lines (salt and hash in base64). The same code
// writes entries (scripts/passwd.ts) and checks them (the broker).
import { MqttError, ReasonCode } from '../../protocol/index.ts';
import { equalBytes, fromBase64, toBase64 } from './base64.ts';

export const scheme = 'pbkdf2-sha256';
/** Cloudflare Workers refuse PBKDF2 with more iterations than this. */
export const maxIterations = 100_000;
export const minIterations = 1_000;
export const defaultIterations = maxIterations;

export interface PasswordHash {
  iterations: number;
  salt: Uint8Array;
  hash: Uint8Array;
}

const utf8 = new TextEncoder();

async function derive(password: string, salt: Uint8Array, iterations: number, bytes: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', utf8.encode(password), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, bytes * 8);
  return new Uint8Array(bits);
}

/** A new encoded hash with a random 16-byte salt. */
export async function hashPassword(password: string, iterations = defaultIterations): Promise<string> {
  checkIterations(iterations);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(password, salt, iterations, 32);
  return `$${scheme}$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

export function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < minIterations || iterations > maxIterations) {
    throw new MqttError(ReasonCode.ImplementationSpecificError, `PBKDF2 iterations must be ${minIterations} to ${maxIterations}`);
  }
}

/** Reads `$pbkdf2-sha256$<iterations>$<salt>$<hash>`; throws on anything else. */
export function parseHash(encoded: string): PasswordHash {
  const [empty, name, rounds, salt, hash, ...rest] = encoded.split('$');
  const iterations = Number(rounds);
  const saltBytes = salt === undefined ? undefined : fromBase64(salt);
  const hashBytes = hash === undefined ? undefined : fromBase64(hash);
  if (empty !== '' || name !== scheme || rest.length || !saltBytes?.length || !hashBytes?.length) {
    throw new MqttError(ReasonCode.ImplementationSpecificError, `not a $${scheme}$ password hash`);
  }
  checkIterations(iterations);
  return { iterations, salt: saltBytes, hash: hashBytes };
}

export async function verifyPassword(password: string, entry: PasswordHash): Promise<boolean> {
  const derived = await derive(password, entry.salt, entry.iterations, entry.hash.length);
  return equalBytes(derived, entry.hash);
}

/** `user:hash` lines; blank lines and `#` comments are skipped. Throws naming the bad line. */
export function parsePasswordFile(text: string): Map<string, PasswordHash> {
  const users = new Map<string, PasswordHash>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    try {
      if (colon < 1) throw new Error('expected user:hash');
      users.set(line.slice(0, colon), parseHash(line.slice(colon + 1)));
    } catch (err) {
      throw new MqttError(ReasonCode.ImplementationSpecificError, `password file line ${index + 1}: ${(err as Error).message}`);
    }
  });
  return users;
}
