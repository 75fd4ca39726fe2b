// Fetches an identity provider's JWKS for RemoteJwks: one subrequest per call (a redirect is
// refused, not followed), bounded in time and size, with the lifetime the provider's cache
// headers allow. Each call counts against the Workers subrequest limit of the event that made
// it (https://developers.cloudflare.com/workers/platform/limits/#subrequests); RemoteJwks makes
// at most one per refresh interval per object, and the object counts them in its metrics.
import type { FetchedJwks, JwksFetch } from '../../broker/ports.ts';

export interface JwksFetchLimits {
  /** Time for the whole response, headers and body (ms). */
  timeoutMs: number;
  /** Largest body read (bytes); a provider's key set is a few KiB. */
  maxBytes: number;
}

export const jwksFetchLimits: JwksFetchLimits = { timeoutMs: 5_000, maxBytes: 128 * 1024 };

/** `send` is the runtime's fetch; tests give their own. */
export function jwksFetcher(send: typeof fetch = (input, init) => fetch(input, init), limits = jwksFetchLimits): JwksFetch {
  return async (url) => {
    const signal = AbortSignal.timeout(limits.timeoutMs);
    const timedOut = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    timedOut.catch(() => {}); // only ever raced
    try {
      const response = await Promise.race([send(url, { headers: { accept: 'application/json' }, redirect: 'manual', signal }), timedOut]);
      if (response.status !== 200) {
        await response.body?.cancel();
        const location = response.headers.get('location');
        throw new Error(`HTTP ${response.status}${location ? ` (redirects to ${location}: configure that URL)` : ''}`);
      }
      const body = await readLimited(response, limits.maxBytes, signal);
      return { body, maxAge: cacheLifetime(response.headers, Date.now()) } satisfies FetchedJwks;
    } catch (err) {
      if (signal.aborted) throw new Error(`no answer within ${limits.timeoutMs} ms`);
      throw err;
    }
  };
}

/** The body as text; throws past maxBytes, and when the signal aborts mid-body. */
async function readLimited(response: Response, maxBytes: number, signal: AbortSignal): Promise<string> {
  const tooLarge = () => new Error(`response larger than ${maxBytes} bytes`);
  if (Number(response.headers.get('content-length') ?? 0) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body!.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      size += r.value.byteLength;
      if (size > maxBytes) {
        cancel();
        throw tooLarge();
      }
      chunks.push(r.value);
    }
  } finally {
    signal.removeEventListener('abort', cancel);
  }
  if (signal.aborted) throw signal.reason;
  const bytes = new Uint8Array(size);
  chunks.reduce((at, chunk) => (bytes.set(chunk, at), at + chunk.byteLength), 0);
  return new TextDecoder().decode(bytes);
}

/**
 * Seconds a response may be reused (RFC 9111 4.2.1): 0 for no-store or no-cache, else max-age
 * less Age, else Expires less Date; undefined when the headers say nothing.
 */
export function cacheLifetime(headers: Headers, now: number): number | undefined {
  const directives = (headers.get('cache-control') ?? '').toLowerCase().split(',').map((d) => d.trim());
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
  const maxAge = directives.map((d) => /^max-age="?(\d+)"?$/.exec(d)).find((m) => m);
  if (maxAge) return Math.max(0, Number(maxAge[1]) - (Number(headers.get('age')) || 0));
  const expires = Date.parse(headers.get('expires') ?? '');
  if (Number.isNaN(expires)) return headers.has('expires') ? 0 : undefined; // an invalid Expires means already expired
  const date = Date.parse(headers.get('date') ?? '');
  return Math.max(0, Math.floor((expires - (Number.isNaN(date) ? now : date)) / 1000));
}
