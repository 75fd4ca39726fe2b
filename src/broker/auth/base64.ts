// Base64 and base64url over Uint8Array with the web globals atob/btoa (no Buffer: this runs on
// workerd and in Node alike).

/** Standard base64, unpadded unless asked (SCRAM wants the padding, password entries do not). */
export function toBase64(bytes: Uint8Array, padded = false): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  const out = btoa(binary);
  return padded ? out : out.replace(/=+$/, '');
}

/** Decodes standard or URL-safe base64, padded or not; undefined when it is not base64. */
export function fromBase64(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) return undefined;
  const standard = text.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
  if (standard.length % 4 === 1) return undefined;
  const binary = atob(standard + '='.repeat((4 - (standard.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_');
}

/** Compares in time independent of where the arrays differ. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
