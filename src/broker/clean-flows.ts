// The message flows of sessions that end with their connection (a clean session, or Session
// Expiry 0): in-flight and queued QoS 1/2 messages out and the QoS 2 ids received, kept in memory,
// where a delivery costs no store write. Such a session lasts as long as its connection
// [MQTT-3.1.2-6], and a hibernation does not end the connection, so what is in memory is copied
// to the snapshot store (`save`) once changes stopped for a second: the object calls save from a timer,
// and the runtime hibernates an object only once it has no timer pending and has been idle
// (Cloudflare: Durable Object lifecycle), so a wake finds every flow as it was (`restore`). A
// restart ends these sessions (their sockets are gone) and their snapshots with them.
import { MemorySessionStore } from './memory/memory-session-store.ts';
import { heldBytes, type OutboundChange, type OutboundMessage } from './ports.ts';

/** Where the flows of live clean sessions are copied, one whole snapshot per client id. */
export interface FlowSnapshots {
  /** Replaces the snapshot of a client. */
  save(clientId: string, outbound: OutboundMessage[], incoming: number[]): void;
  /** Outbound messages in seq order and received QoS 2 ids; empty when there is none. */
  load(clientId: string): { outbound: OutboundMessage[]; incoming: number[] };
  delete(clientId: string): void;
}

/** The memory store, noting which clients changed since the last save. */
class NotingStore extends MemorySessionStore {
  readonly changed = new Set<string>();
  /** Payload bytes of every outbound message held (MQTT_MAX_QUEUED_BYTES_TOTAL). */
  bytes = 0;
  /** Called when the first change after a save is noted. */
  first?: () => void;
  /** Changes noted so far (CleanFlows.quiet). */
  touches = 0;

  private note(clientId: string): void {
    this.touches++;
    if (!this.changed.size) this.first?.();
    this.changed.add(clientId);
  }

  override enqueue(clientId: string, entry: Omit<OutboundMessage, 'seq'>): number {
    this.note(clientId);
    this.bytes += heldBytes(entry.message);
    return super.enqueue(clientId, entry);
  }

  override updateOutbound(clientId: string, changes: readonly OutboundChange[]): void {
    this.note(clientId);
    super.updateOutbound(clientId, changes);
  }

  override deleteOutbound(clientId: string, seqs: readonly number[]): void {
    this.note(clientId);
    for (const { message } of this.outboundEntries(clientId, seqs)) this.bytes -= heldBytes(message);
    super.deleteOutbound(clientId, seqs);
  }

  override delete(clientId: string): void {
    for (const { message } of this.outbound(clientId)) this.bytes -= heldBytes(message);
    super.delete(clientId);
  }

  override addIncoming(clientId: string, packetId: number): void {
    this.note(clientId);
    super.addIncoming(clientId, packetId);
  }

  override deleteIncoming(clientId: string, packetId: number): void {
    this.note(clientId);
    super.deleteIncoming(clientId, packetId);
  }
}

export class CleanFlows {
  /** The flows themselves; Session objects read and write them here. */
  readonly store = new NotingStore({ copies: false });
  private readonly snapshots?: FlowSnapshots;
  /** Client ids this run saved a snapshot for, or read one back. */
  private readonly saved = new Set<string>();
  /** store.touches when `quiet` last looked. */
  private looked = 0;

  constructor(snapshots?: FlowSnapshots) {
    this.snapshots = snapshots;
  }

  /** `save` is due: called at the first change after a save (the object sets its timer). */
  set whenChanged(call: () => void) {
    this.store.first = call;
  }

  /** After a wake: the store for a live session, its flows read back from their snapshot first. */
  restore(clientId: string): MemorySessionStore {
    if (!this.snapshots || this.store.outboundCount(clientId) || this.store.incoming(clientId).length) return this.store;
    const { outbound, incoming } = this.snapshots.load(clientId);
    for (const { seq: _seq, ...entry } of outbound) this.store.enqueue(clientId, entry);
    for (const id of incoming) this.store.addIncoming(clientId, id);
    this.store.changed.delete(clientId); // the snapshot holds exactly this
    if (outbound.length || incoming.length) this.saved.add(clientId);
    return this.store;
  }

  /** The session ended: its flows and snapshot go (one left by a run that stopped, too). */
  end(clientId: string): void {
    this.store.delete(clientId);
    this.store.changed.delete(clientId);
    this.saved.delete(clientId);
    this.snapshots?.delete(clientId);
  }

  /**
   * Whether nothing changed since the last time this was asked. The object saves only after a
   * quiet spell: while messages flow it is not hibernating, and its save timer keeps it from
   * hibernating, so flows that come and go within the spell never cost a row.
   */
  quiet(): boolean {
    const quiet = this.store.touches === this.looked;
    this.looked = this.store.touches;
    return quiet;
  }

  /** Whether something changed since the last save (and there is somewhere to save it). */
  unsaved(): boolean {
    return !!this.snapshots && this.store.changed.size > 0;
  }

  /** Copies every changed client's flows to its snapshot; one with nothing left loses its snapshot. */
  save(): void {
    if (!this.snapshots) return;
    for (const clientId of this.store.changed) {
      const outbound = this.store.outbound(clientId);
      const incoming = this.store.incoming(clientId);
      if (outbound.length || incoming.length) {
        this.snapshots.save(clientId, outbound, incoming);
        this.saved.add(clientId);
      } else if (this.saved.delete(clientId)) this.snapshots.delete(clientId);
    }
    this.store.changed.clear();
  }
}
