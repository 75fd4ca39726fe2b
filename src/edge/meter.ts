// Cloudflare's billed units for one namespace's object, counted as they happen, and the one saved
// row that carries them and the broker's traffic counters across hibernation, eviction and
// deploys. A save costs one row write: a second after the first unsaved change (so the acks that
// follow a message ride along), then at most once per saveInterval while busy. The object's one
// alarm runs the save when no event does, well before the runtime hibernates an idle object.
import type { Counters, Metrics } from '../broker/observe/metrics.ts';
import type { Units } from './billing.ts';
import { fromJson, toJson, type Sql } from './sqlite/sql.ts';

export type { Units } from './billing.ts';

interface Saved {
  counters?: Counters;
  units: Units;
}

/** Least time between saves while busy (ms). */
export const saveInterval = 5_000;
/** How long a first change waits for the ones that follow it (ms). */
const saveDelay = 1_000;

const zero = (): Units => ({ requests: 0, rpcCalls: 0, websocketMessagesIn: 0, rowsRead: 0, rowsWritten: 0, activeMs: 0 });

export class Meter {
  /** The broker's counters as last saved, for the Metrics that carries on from them. */
  readonly savedCounters?: Counters;
  private readonly sql: Sql;
  /** Units as saved, plus what this instance counted (rows come from `sql`). */
  private readonly units: Units;
  private changes = 0;
  private savedChanges = 0;
  private savedAt = -Infinity;
  /** When the oldest unsaved change was seen. */
  private unsavedSince?: number;
  private holds = 0;
  private activeUntil = 0;
  private heldSince = 0;

  constructor(sql: Sql) {
    this.sql = sql;
    const saved = fromJson<Partial<Saved>>(sql.first<{ saved: string }>('SELECT saved FROM meter WHERE id = 1')?.saved ?? null);
    this.savedCounters = saved?.counters;
    this.units = { ...zero(), ...saved?.units };
  }

  /** A request reached the object (fetch); `alarm` ones change nothing worth a save by themselves. */
  request(kind: 'fetch' | 'alarm' = 'fetch'): void {
    this.units.requests++;
    if (kind === 'fetch') this.changes++;
  }

  /** An RPC call from another object of the namespace. */
  rpc(): void {
    this.units.rpcCalls++;
    this.changes++;
  }

  webSocketMessage(): void {
    this.units.websocketMessagesIn++;
    this.changes++;
  }

  /** An event handler ran from `start` to `end` (ms); time events overlap is counted once. */
  active(start: number, end: number): void {
    const from = Math.max(start, this.activeUntil);
    if (this.holds === 0 && end > from) this.units.activeMs += end - from;
    this.activeUntil = Math.max(this.activeUntil, end);
  }

  /**
   * Something holds the object in memory: an open event stream, or an RPC session another object
   * holds (edge/rpc-session.ts). The object cannot hibernate meanwhile, so all of that time is billed.
   */
  held(now: number): void {
    if (this.holds++ === 0) this.heldSince = now;
  }

  released(now: number): void {
    if (--this.holds > 0) return;
    this.units.activeMs += now - this.heldSince;
    this.activeUntil = Math.max(this.activeUntil, now);
    this.changes++;
  }

  /** Everything counted, saved or not. */
  read(now: number): Units {
    const u = this.units;
    return {
      requests: u.requests, rpcCalls: u.rpcCalls, websocketMessagesIn: u.websocketMessagesIn,
      rowsRead: u.rowsRead + this.sql.rowsRead, rowsWritten: u.rowsWritten + this.sql.rowsWritten,
      activeMs: u.activeMs + (this.holds ? now - this.heldSince : 0),
    };
  }

  /** Saves when something changed and its time has come; else says when a save is due. */
  settle(metrics: Metrics | undefined, now: number): number | undefined {
    // rows written count as changes (a new object's tables, a store write), the save's own excepted
    const changes = (metrics?.changes ?? 0) + this.changes + this.sql.rowsWritten;
    if (changes === this.savedChanges) return undefined;
    this.unsavedSince ??= now;
    const due = Math.max(this.savedAt + saveInterval, this.unsavedSince + saveDelay);
    if (now < due) return due;
    const saved: Saved = { counters: metrics?.counters ?? this.savedCounters, units: this.read(now) };
    this.sql.run('INSERT OR REPLACE INTO meter (id, saved) VALUES (1, ?)', toJson(saved));
    this.savedChanges = (metrics?.changes ?? 0) + this.changes + this.sql.rowsWritten;
    this.savedAt = now;
    this.unsavedSince = undefined;
    return undefined;
  }
}

/**
 * $SYS topics with this object's billed units: the namespace's in the default topology, one
 * gateway's in the sharded one (GET /api/cost sums every object).
 */
export function costFigures(meter: Meter): Array<[string, () => number]> {
  const unit = (key: keyof Units) => () => meter.read(Date.now())[key];
  return [
    ['$SYS/broker/cloudflare/requests', unit('requests')],
    ['$SYS/broker/cloudflare/rpc calls', unit('rpcCalls')],
    ['$SYS/broker/cloudflare/websocket messages in', unit('websocketMessagesIn')],
    ['$SYS/broker/cloudflare/rows read', unit('rowsRead')],
    ['$SYS/broker/cloudflare/rows written', unit('rowsWritten')],
    ['$SYS/broker/cloudflare/active ms', unit('activeMs')],
  ];
}
