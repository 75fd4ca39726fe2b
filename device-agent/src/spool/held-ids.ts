// QoS 2 packet ids that senders' PUBLISHes came with, stored and not yet released (PUBREL), per
// sender session (a device's client id; '' for the bridge's board), least recently heard of first:
// a resend of one is a duplicate [MQTT-4.3.3]. The spool records every change (record.ts).
import { encodeRecord } from './record.ts';
import { concat } from '../frame.ts';

export class HeldIds {
  private readonly map = new Map<string, Set<number>>();
  private total = 0;

  has(session: string, id: number): boolean {
    return this.map.get(session)?.has(id) === true;
  }

  countOf(session: string): number {
    return this.map.get(session)?.size ?? 0;
  }

  /** A copy of `session`'s ids. */
  ids(session: string): Set<number> {
    return new Set(this.map.get(session));
  }

  /** Holds `id` for `session`, which becomes the most recently heard of. */
  hold(session: string, id: number): void {
    const ids = this.map.get(session) ?? new Set<number>();
    this.map.delete(session);
    this.map.set(session, ids);
    if (!ids.has(id)) this.total++;
    ids.add(id);
  }

  /** Whether `session` held `id`, which it no longer does. */
  free(session: string, id: number): boolean {
    const ids = this.map.get(session);
    if (!ids?.delete(id)) return false;
    this.total--;
    if (ids.size === 0) this.map.delete(session);
    return true;
  }

  /** Frees every id of `session`; returns how many it held. */
  end(session: string): number {
    const n = this.countOf(session);
    this.map.delete(session);
    this.total -= n;
    return n;
  }

  /** Sessions other than `keep`, least recently heard of first, whose ending brings the total below `max`, with their counts. */
  oldest(max: number, keep: string): Array<[string, number]> {
    const out: Array<[string, number]> = [];
    let total = this.total;
    for (const [session, ids] of this.map) {
      if (total < max) break;
      if (session === keep) continue;
      out.push([session, ids.size]);
      total -= ids.size;
    }
    return out;
  }

  /** Every held id as records, for the start of a new segment (older segments may then go). */
  records(): Uint8Array {
    const records: Uint8Array[] = [];
    for (const [session, ids] of this.map) for (const id of ids) records.push(encodeRecord({ kind: 'held', seq: id, session }));
    return concat(records);
  }
}
