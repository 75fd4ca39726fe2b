// Cloudflare's billed units for one namespace's object, counted as they happen, and the one saved
// row that carries them and the broker's traffic counters across hibernation, eviction and
// deploys. A save costs one row write: a second after the first unsaved change (so the acks that
// follow a message ride along), then at most once per saveInterval while busy. The object's one
// alarm runs the save when no event does, well before the runtime hibernates an idle object.
// Traffic alone (a PINGREQ, a QoS 0 message) is not worth a row: what it adds since the last save
// is stashed in a WebSocket's attachment instead, which is free and survives hibernation (see Stash).
import type { Counters, Flow, Metrics } from '../broker/observe/metrics.ts';
import type { Units } from './billing.ts';
import { fromJson, toJson, type Sql } from './sqlite/sql.ts';

export type { Units } from './billing.ts';

interface Saved {
  counters?: Counters;
  units: Units;
  /** How many saves this row has seen: a stash names the save it adds to. */
  saves?: number;
}

/**
 * Units and traffic counted since save number `save`, kept in a WebSocket's attachment (Cloudflare:
 * serializeAttachment keeps it in memory across hibernation, unbilled). A wake reads the stash with
 * the most WebSocket messages among those naming the row's save. Lost only if the runtime restarts
 * the object with its WebSockets (a deploy): at most `stashMaxMessages` messages' worth. Thirteen
 * numbers, within the attachment room src/broker/snapshot.ts keeps for it (transportBytes).
 */
export type Stash = [save: number, since: number, websocketMessagesIn: number, requests: number, rowsRead: number, rowsWritten: number,
  activeMs: number, inPackets: number, inPublishes: number, inBytes: number, outPackets: number, outPublishes: number, outBytes: number];

/** Least time between saves while busy (ms). */
export const saveInterval = 5_000;
/** How long a first change waits for the ones that follow it (ms). */
const saveDelay = 1_000;
/** Past this many WebSocket messages, or this age, stashed units are saved to the row. */
export const stashMaxMessages = 1_000;
export const stashMaxAge = 24 * 3600_000;

const zero = (): Units => ({ requests: 0, rpcCalls: 0, websocketMessagesIn: 0, rowsRead: 0, rowsWritten: 0, activeMs: 0 });

const flowOf = (f?: Partial<Flow>): Flow => ({ packets: f?.packets ?? 0, publishes: f?.publishes ?? 0, bytes: f?.bytes ?? 0 });
const flowPlus = (f: Flow, packets: number, publishes: number, bytes: number): Flow =>
  ({ packets: f.packets + packets, publishes: f.publishes + publishes, bytes: f.bytes + bytes });

export class Meter {
  /** The broker's counters as last saved (and stashed since), for the Metrics that carries on from them. */
  readonly savedCounters?: Counters;
  private readonly sql: Sql;
  /** Units as saved, plus what this instance counted (rows come from `sql`). */
  private readonly units: Units;
  /** The row as last saved: a stash holds what was counted beyond it. */
  private saves: number;
  private base: { units: Units; received: Flow; sent: Flow };
  private changes = 0;
  private savedChanges = 0;
  /** Changes other than traffic (requests, RPC calls, holds; the broker's non-traffic counters) as of the last save. */
  private heavy = 0;
  private savedHeavy = 0;
  private savedAt = -Infinity;
  /** When the oldest unsaved change was seen. */
  private unsavedSince?: number;
  private holds = 0;
  private activeUntil = 0;
  private heldSince = 0;

  /** `stashes`: what the object's WebSockets' attachments hold (readStash), after a wake. */
  constructor(sql: Sql, stashes: Array<Stash | undefined> = []) {
    this.sql = sql;
    const saved = fromJson<Partial<Saved>>(sql.first<{ saved: string }>('SELECT saved FROM meter WHERE id = 1')?.saved ?? null);
    this.units = { ...zero(), ...saved?.units };
    this.saves = saved?.saves ?? 0;
    this.base = { units: { ...this.units }, received: flowOf(saved?.counters?.received), sent: flowOf(saved?.counters?.sent) };
    const s = stashes.filter((x) => x?.[0] === this.saves).sort((a, b) => b![2] - a![2])[0];
    if (!s) {
      this.savedCounters = saved?.counters;
      return;
    }
    const u = this.units;
    [u.websocketMessagesIn, u.requests, u.rowsRead, u.rowsWritten, u.activeMs] = [u.websocketMessagesIn + s[2], u.requests + s[3], u.rowsRead + s[4], u.rowsWritten + s[5], u.activeMs + s[6]];
    if (saved?.counters) {
      this.savedCounters = { ...saved.counters, received: flowPlus(this.base.received, s[7], s[8], s[9]), sent: flowPlus(this.base.sent, s[10], s[11], s[12]) };
    }
    this.unsavedSince = s[1]; // the stash's age carries on across wakes
  }

  /** A request reached the object (fetch); `alarm` ones change nothing worth a save by themselves. */
  request(kind: 'fetch' | 'alarm' = 'fetch'): void {
    this.units.requests++;
    if (kind === 'fetch') this.changes++, this.heavy++;
  }

  /** An RPC call from another object of the namespace. */
  rpc(): void {
    this.units.rpcCalls++;
    this.changes++;
    this.heavy++;
  }

  /** The object set its alarm: "each setAlarm() is billed as a single row written" (Durable Objects pricing). */
  alarmSet(): void {
    this.units.rowsWritten++;
    this.changes++;
  }

  /** A WebSocket closed or failed: its attachment, which may hold the stash, goes with it. */
  socketGone(): void {
    this.changes++;
    this.heavy++;
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
    this.heavy++;
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

  /**
   * Saves when something changed and its time has come; else says when a save is due. With
   * `stashable`, an event whose WebSocket can carry a stash (this.stash) needs no save for traffic.
   */
  settle(metrics: Metrics | undefined, now: number, stashable = false): number | undefined {
    // rows written count as changes (a new object's tables, a store write), the save's own excepted
    const changes = this.total(metrics);
    if (changes === this.savedChanges) return undefined;
    this.unsavedSince ??= now;
    if (stashable && this.light(metrics, now)) return undefined;
    const due = Math.max(this.savedAt + saveInterval, this.unsavedSince + saveDelay);
    if (now < due) return due;
    const units = this.read(now);
    units.rowsWritten++; // this save's own row
    this.saves++;
    const saved: Saved = { counters: metrics?.counters ?? this.savedCounters, units, saves: this.saves };
    this.sql.run('INSERT OR REPLACE INTO meter (id, saved) VALUES (1, ?)', toJson(saved));
    this.base = { units, received: flowOf(saved.counters?.received), sent: flowOf(saved.counters?.sent) };
    this.savedChanges = this.total(metrics);
    this.savedHeavy = this.heavyOf(metrics);
    this.savedAt = now;
    this.unsavedSince = undefined;
    return undefined;
  }

  /** What was counted since the last save, for a WebSocket's attachment; undefined when it needs a save. */
  stash(metrics: Metrics, now: number): Stash | undefined {
    if (this.total(metrics) === this.savedChanges || !this.light(metrics, now)) return undefined;
    const [u, b, c] = [this.read(now), this.base, metrics.counters];
    return [this.saves, this.unsavedSince ?? now, u.websocketMessagesIn - b.units.websocketMessagesIn, u.requests - b.units.requests, u.rowsRead - b.units.rowsRead,
      u.rowsWritten - b.units.rowsWritten, u.activeMs - b.units.activeMs,
      c.received.packets - b.received.packets, c.received.publishes - b.received.publishes, c.received.bytes - b.received.bytes,
      c.sent.packets - b.sent.packets, c.sent.publishes - b.sent.publishes, c.sent.bytes - b.sent.bytes];
  }

  private total(metrics: Metrics | undefined): number {
    return (metrics?.changes ?? 0) + this.changes + this.sql.rowsWritten;
  }

  private heavyOf(metrics: Metrics | undefined): number {
    return (metrics ? metrics.changes - metrics.traffic : 0) + this.heavy;
  }

  /** Only traffic changed since the last save, and not too much of it for too long. */
  private light(metrics: Metrics | undefined, now: number): boolean {
    const u = this.units;
    return this.heavyOf(metrics) === this.savedHeavy && this.holds === 0 && u.rpcCalls === this.base.units.rpcCalls
      && u.websocketMessagesIn - this.base.units.websocketMessagesIn <= stashMaxMessages && now - (this.unsavedSince ?? now) < stashMaxAge;
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
