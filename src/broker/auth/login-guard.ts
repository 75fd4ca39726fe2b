// Failed logins, counted and slowed without timers: after a few failures from one client id,
// user name or address (which many clients may share behind NAT, so it is allowed more), further
// attempts from it are refused unchecked until a backoff window has passed, and the window
// doubles with each failure. Attempts refused this way cost no
// password hashing and tell nothing about the credentials. Memory is bounded: the oldest
// entries go first.

export interface LoginGuardConfig {
  /** Failures allowed from one client id or user name before the first backoff. */
  freeFailures: number;
  /** Failures allowed from one address before its first backoff. */
  freeAddressFailures: number;
  /** First backoff window, ms; doubled per further failure. */
  backoff: number;
  /** Longest backoff window, ms. */
  maxBackoff: number;
  /** Most keys remembered. */
  maxEntries: number;
}

export const defaultLoginGuardConfig: LoginGuardConfig = {
  freeFailures: 3, freeAddressFailures: 30, backoff: 1_000, maxBackoff: 300_000, maxEntries: 10_000,
};

/** Keys of addresses start so; see Authenticator's guard keys. */
export const addressKey = (peer: string): string => `ip:${peer}`;

interface Entry {
  failures: number;
  /** Attempts are refused until then (ms). */
  until: number;
  last: number;
}

export class LoginGuard {
  readonly stats = { failures: 0, refused: 0 };
  private readonly entries = new Map<string, Entry>();
  private readonly config: LoginGuardConfig;

  constructor(config: Partial<LoginGuardConfig> = {}) {
    this.config = { ...defaultLoginGuardConfig, ...config };
  }

  /** Milliseconds until any of these keys may try again; 0 when they may now. */
  retryAfter(keys: readonly string[], now: number): number {
    let wait = 0;
    for (const key of keys) wait = Math.max(wait, (this.entries.get(key)?.until ?? 0) - now);
    if (wait > 0) this.stats.refused++;
    return wait;
  }

  failed(keys: readonly string[], now: number): void {
    this.stats.failures++;
    for (const key of keys) {
      const old = this.entries.get(key);
      const fresh = !old || now - old.last > 2 * this.config.maxBackoff;
      const failures = fresh ? 1 : old.failures + 1;
      const over = failures - (key.startsWith(addressKey('')) ? this.config.freeAddressFailures : this.config.freeFailures);
      const until = over > 0 ? now + Math.min(this.config.backoff * 2 ** (over - 1), this.config.maxBackoff) : 0;
      this.entries.delete(key); // re-inserted last: Map order is age order
      this.entries.set(key, { failures, until, last: now });
    }
    while (this.entries.size > this.config.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  succeeded(keys: readonly string[]): void {
    for (const key of keys) this.entries.delete(key);
  }
}
