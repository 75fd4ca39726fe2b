// A namespace's traffic counters, fed by hooks: connections, packets, publishes and bytes each
// way, drops by reason. Cumulative since `since`; the transport saves and restores them, so they
// outlive hibernation, eviction and deploys.
import type { Broker } from '../broker.ts';
import { reasonCodeName } from '../../protocol/index.ts';
import type { DropReason, Hooks } from '../hooks.ts';

/** One direction of traffic: every MQTT packet, the PUBLISH packets among them, the bytes. */
export interface Flow {
  packets: number;
  publishes: number;
  bytes: number;
}

export interface Counters {
  /** When counting began (ms): the namespace's first start. */
  since: number;
  /** Successful CONNECTs. */
  connects: number;
  /** Most clients connected at once. */
  maxConnected: number;
  received: Flow;
  sent: Flow;
  dropped: Record<DropReason, number>;
  /** Connections refused before CONNACK success, by reason name (failed logins among them). */
  refused: Record<string, number>;
  /** Fetches of MQTT_JWT_JWKS_URL (each one subrequest): `ok` brought a key set, `failed` did not. */
  jwksFetches: Record<'ok' | 'failed', number>;
}

const flow = (): Flow => ({ packets: 0, publishes: 0, bytes: 0 });

/** Counters from zero, or restored from a save that may predate some fields (those start at zero). */
export function restoreCounters(now: number, saved?: Partial<Counters>): Counters {
  return {
    since: saved?.since ?? now, connects: saved?.connects ?? 0, maxConnected: saved?.maxConnected ?? 0,
    received: { ...flow(), ...saved?.received }, sent: { ...flow(), ...saved?.sent },
    dropped: { 'queue-full': 0, expired: 0, 'too-large': 0, 'not-authorized': 0, 'retained-limit': 0, 'retained-quota': 0, ...saved?.dropped },
    refused: { ...saved?.refused },
    jwksFetches: { ok: 0, failed: 0, ...saved?.jwksFetches },
  };
}

export class Metrics {
  readonly counters: Counters;
  /** Bumped on every change, so a saver can tell whether anything is new. */
  changes = 0;
  /** The changes that were traffic only (packets and bytes counted): a saver may keep those for later. */
  traffic = 0;
  readonly hooks: Partial<Hooks>;

  constructor(broker: Broker, saved?: Partial<Counters>) {
    const c = (this.counters = restoreCounters(broker.clock.now(), saved));
    // the broker counts drops itself; these counters carry them on from the last save
    c.dropped = Object.assign(broker.stats.dropped, c.dropped);
    this.hooks = {
      onConnect: () => {
        c.connects++;
        c.maxConnected = Math.max(c.maxConnected, broker.gateway.activeCount());
        this.changes++;
      },
      onTraffic: (_client, t) => {
        const f = t.direction === 'in' ? c.received : c.sent;
        f.packets += t.packets;
        f.publishes += t.publishes;
        f.bytes += t.bytes;
        this.changes++;
        this.traffic++;
      },
      onDrop: () => void this.changes++,
      onConnectRefused: (_client, code) => {
        const reason = reasonCodeName(code, 'connack');
        c.refused[reason] = (c.refused[reason] ?? 0) + 1;
        this.changes++;
      },
    };
  }

  /** A fetch of the JWKS URL ended (RemoteJwks's onFetch). */
  jwksFetched(ok: boolean): void {
    this.counters.jwksFetches[ok ? 'ok' : 'failed']++;
    this.changes++;
  }
}
