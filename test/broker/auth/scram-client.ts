// The client's side of SCRAM-SHA-256 (RFC 5802/7677), for tests of the broker's side.
import { fromBase64, toBase64 } from '../../../src/broker/auth/base64.ts';

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function hmac(key: Uint8Array, data: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, utf8.encode(data)));
}

export class ScramClient {
  private readonly user: string;
  private readonly password: string;
  private readonly clientFirstBare: string;
  private serverSignature = '';

  constructor(user: string, password: string, nonce = toBase64(crypto.getRandomValues(new Uint8Array(18)), true)) {
    this.user = user;
    this.password = password;
    this.clientFirstBare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${nonce}`;
  }

  first(): Uint8Array {
    return utf8.encode(`n,,${this.clientFirstBare}`);
  }

  async final(serverFirstBytes: Uint8Array, password = this.password): Promise<Uint8Array> {
    const serverFirst = text(serverFirstBytes);
    const attrs = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
    const key = await crypto.subtle.importKey('raw', utf8.encode(password), 'PBKDF2', false, ['deriveBits']);
    const salted = new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: fromBase64(attrs.s)!, iterations: Number(attrs.i) }, key, 256));
    const clientKey = await hmac(salted, 'Client Key');
    const storedKey = new Uint8Array(await crypto.subtle.digest('SHA-256', clientKey));
    const withoutProof = `c=biws,r=${attrs.r}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const signature = await hmac(storedKey, authMessage);
    this.serverSignature = toBase64(await hmac(await hmac(salted, 'Server Key'), authMessage), true);
    return utf8.encode(`${withoutProof},p=${toBase64(clientKey.map((b, i) => b ^ signature[i]), true)}`);
  }

  /** Whether the server proved it knows the password too. */
  verify(serverFinal: Uint8Array | undefined): boolean {
    return !!serverFinal && text(serverFinal) === `v=${this.serverSignature}`;
  }
}
