// SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5 enhanced authentication method, over the
// password file's and user store's entries: a `$pbkdf2-sha256$` hash is SCRAM's SaltedPassword (PBKDF2-HMAC-SHA256
// with the entry's salt and iterations), so no second credential store is needed. Two steps:
// client-first → server-first (AUTH 0x18), client-final → server-final (CONNACK or AUTH 0x00).
import { MqttError, ReasonCode } from '../../protocol/index.ts';
import type { AuthExchange, AuthStep } from '../hooks.ts';
import { equalBytes, fromBase64, toBase64 } from './base64.ts';
import type { PasswordHash } from './password.ts';

export const scramMethod = 'SCRAM-SHA-256';

const utf8 = new TextEncoder();
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);
const refuse = (message: string): never => {
  throw new MqttError(ReasonCode.BadUserNameOrPassword, message);
};

type Key = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

async function hmac(key: Uint8Array, data: string): Promise<Uint8Array> {
  const k: Key = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, utf8.encode(data)));
}

const randomNonce = () => toBase64(crypto.getRandomValues(new Uint8Array(18)), true);

const sha256 = async (data: Uint8Array) => new Uint8Array(await crypto.subtle.digest('SHA-256', data));

/** `k=v,k=v` attributes, in order. */
function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part[1] !== '=') refuse(`SCRAM attribute "${part}" is malformed`);
    out.set(part[0], part.slice(2));
  }
  return out;
}

/** RFC 5802 saslname: "=2C" is ",", "=3D" is "="; any other "=" is malformed. */
function saslName(value: string | undefined): string {
  if (!value || /=(?!2C|3D)/.test(value)) return refuse('SCRAM user name is malformed');
  return value.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** A user's password hash, found at once (the file) or after a call (the user store). */
type Lookup = (username: string) => PasswordHash | undefined | Promise<PasswordHash | undefined>;

export class ScramExchange implements AuthExchange {
  username?: string;
  private readonly lookup: Lookup;
  private readonly decoy: PasswordHash;
  private readonly nonce: () => string;
  private state?: { gs2: string; clientFirstBare: string; serverFirst: string; nonce: string; entry?: PasswordHash };

  constructor(lookup: Lookup, decoy: PasswordHash, nonce = randomNonce) {
    this.lookup = lookup;
    this.decoy = decoy;
    this.nonce = nonce;
  }

  async step(data: Uint8Array | undefined): Promise<AuthStep> {
    return this.state ? this.final(text(data)) : this.first(text(data));
  }

  /** client-first "n,,n=user,r=nonce" → server-first "r=nonce+ours,s=salt,i=iterations". */
  private async first(message: string): Promise<AuthStep> {
    const match = /^([ny]),(a=[^,]*)?,(.*)$/.exec(message) ?? refuse('SCRAM client-first is malformed (channel binding is not offered)');
    if (match[2]) refuse('SCRAM authorization identities are not supported');
    const clientFirstBare = match[3];
    const attrs = attributes(clientFirstBare);
    this.username = saslName(attrs.get('n'));
    const clientNonce = attrs.get('r') ?? refuse('SCRAM client nonce missing');
    const entry = await this.lookup(this.username);
    const { salt, iterations } = entry ?? this.decoy; // an unknown user gets a challenge too
    const nonce = clientNonce + this.nonce();
    const serverFirst = `r=${nonce},s=${toBase64(salt, true)},i=${iterations}`;
    this.state = { gs2: `${match[1]},${match[2] ?? ''},`, clientFirstBare, serverFirst, nonce, entry };
    return { challenge: utf8.encode(serverFirst) };
  }

  /** client-final "c=…,r=…,p=proof" → the principal and server-final "v=signature". */
  private async final(message: string): Promise<AuthStep> {
    const s = this.state!;
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt < 0) refuse('SCRAM client proof missing');
    const withoutProof = message.slice(0, proofAt);
    const attrs = attributes(withoutProof);
    if (text(fromBase64(attrs.get('c') ?? '')) !== s.gs2) refuse('SCRAM channel binding does not match');
    if (attrs.get('r') !== s.nonce) refuse('SCRAM nonce does not match');
    const proof = fromBase64(message.slice(proofAt + 3)) ?? refuse('SCRAM proof is not base64');
    const salted = (s.entry ?? this.decoy).hash;
    const authMessage = `${s.clientFirstBare},${s.serverFirst},${withoutProof}`;
    const clientKey = await hmac(salted, 'Client Key');
    const storedKey = await sha256(clientKey);
    const signature = await hmac(storedKey, authMessage);
    const recovered = proof.map((b, i) => b ^ (signature[i] ?? 0));
    const valid = equalBytes(await sha256(recovered), storedKey);
    if (!s.entry || !valid) refuse(s.entry ? 'wrong password (SCRAM)' : `unknown user ${this.username} (SCRAM)`);
    const serverSignature = await hmac(await hmac(salted, 'Server Key'), authMessage);
    return { principal: { method: 'scram', username: this.username! }, data: utf8.encode(`v=${toBase64(serverSignature, true)}`) };
  }
}
