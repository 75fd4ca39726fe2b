// Keys from an identity provider's JWKS URL, cached in the object (and its store, so a wake or
// restart finds them): a login whose key is cached never waits on a fetch, a stale cache is
// refreshed behind it; a kid the cache lacks fetches again, at most once per refresh interval
// however many tokens ask (one fetch in flight, shared); a failed fetch keeps the last good set.
import { MqttError, ReasonCode } from '../../protocol/index.ts';
import type { Clock, JwksFetch, JwksStore } from '../ports.ts';
import { KeySet, type Alg, type VerifyKey } from './key-set.ts';

export interface RemoteJwksOptions {
  url: string;
  fetch: JwksFetch;
  clock: Clock;
  /** Least time between two fetches (ms). */
  refreshInterval: number;
  store?: JwksStore;
  log?: (level: 'warn', message: string) => void;
  /** Told of every fetch and whether it brought a key set (for the metrics). */
  onFetch?: (ok: boolean) => void;
}

/** How long a key set stays fresh when its provider says nothing (s). */
export const defaultJwksMaxAge = 600;
/** Longest a key set stays fresh, whatever its provider says (s): removed keys go within a day. */
export const maxJwksMaxAge = 86_400;

export class RemoteJwks {
  private readonly options: RemoteJwksOptions;
  private set?: KeySet;
  private freshUntil = -Infinity;
  private lastFetch = -Infinity;
  private pending?: Promise<void>;
  private restored = false;

  constructor(options: RemoteJwksOptions) {
    this.options = options;
  }

  /**
   * The provider's keys fitting a token. Waits on a fetch only when no cached key fits (and the
   * refresh interval allows one); throws ServerUnavailable while no key set was ever fetched.
   */
  async keys(alg: Alg, kid: string | undefined): Promise<VerifyKey[]> {
    this.restore();
    const now = this.options.clock.now();
    const cached = (await this.set?.candidates(alg, kid)) ?? [];
    if (cached.length) {
      if (now >= this.freshUntil) void this.refresh(now);
      return cached;
    }
    await this.refresh(now);
    if (!this.set) throw new MqttError(ReasonCode.ServerUnavailable, `the JWKS at ${this.options.url} could not be fetched`);
    return this.set.candidates(alg, kid);
  }

  /** Starts a fetch unless one runs or the last began less than the refresh interval ago. */
  private refresh(now: number): Promise<void> {
    if (!this.pending && now - this.lastFetch >= this.options.refreshInterval) {
      this.lastFetch = now;
      this.pending = this.fetchOnce().finally(() => (this.pending = undefined));
    }
    return this.pending ?? Promise.resolve();
  }

  private async fetchOnce(): Promise<void> {
    const { url, clock, store } = this.options;
    try {
      const { body, maxAge } = await this.options.fetch(url);
      const set = KeySet.parse(body);
      const fetchedAt = clock.now();
      const seconds = Math.min(Math.max(maxAge ?? defaultJwksMaxAge, 0), maxJwksMaxAge);
      [this.set, this.freshUntil] = [set, fetchedAt + Math.max(seconds * 1000, this.options.refreshInterval)];
      store?.save(url, { body, fetchedAt, freshUntil: this.freshUntil });
      this.options.onFetch?.(true);
    } catch (err) {
      this.options.onFetch?.(false);
      const kept = this.set ? '; keeping the last good key set' : '';
      this.options.log?.('warn', `JWKS ${url} not fetched: ${err instanceof Error ? err.message : String(err)}${kept}`);
    }
  }

  /** The stored set, once, on first use (after a wake or restart). */
  private restore(): void {
    if (this.restored) return;
    this.restored = true;
    const saved = this.options.store?.load(this.options.url);
    if (!saved) return;
    try {
      [this.set, this.freshUntil] = [KeySet.parse(saved.body), saved.freshUntil];
    } catch {
      // a stored set that no longer parses is as good as none: the next login fetches
    }
  }
}
