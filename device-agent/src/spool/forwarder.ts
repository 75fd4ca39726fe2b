// Drains the spool to the edge in order: a window of messages is handed to the Client, which
// resends them across reconnects; each one is acknowledged in the spool when the edge has it.
// Packet ids 1..65000 follow the spool's message numbers, and PUBREC is recorded before PUBREL,
// so after a restart a QoS 2 message goes again under the id the edge's session knows it by
// [MQTT-4.3.3]. A spool that has not yet numbered messages for this client id starts its session
// afresh. Logs the queue depth while the edge is away, drops, and messages the edge cannot take.
import type { Client } from '../client.ts';
import { publishSize } from '../frame.ts';
import { formatBytes, type Logger } from '../log.ts';
import { count, reason } from '../messages.ts';
import type { SpooledMessage } from './record.ts';
import type { Spool } from './spool.ts';

const reportEveryMs = 10_000;
const spoolIds = 65_000;

/** The packet id of spooled message `seq`, the same in every run. */
export const packetIdFor = (seq: number): number => ((seq - 1) % spoolIds) + 1;

export class Forwarder {
  setAside = 0;
  private sentUpTo = 0;
  private inflight = 0;
  private lastReport = 0;
  private draining = false;
  private dropsSinceReport = 0;
  private dropTimer?: ReturnType<typeof setTimeout>;
  private lastDrop = '';

  constructor(private readonly spool: Spool, private readonly client: Client, private readonly log: Logger, private readonly window = 16) {
    client.opts.ownIds = { from: spoolIds + 1, to: 65_535 };
    const clientId = client.opts.connect.clientId;
    client.discardSession = spool.sessionOwner !== clientId;
    client.onSessionDiscarded = () => {
      log.info(`new session at the edge for ${clientId}: this spool's packet ids own it from now on`);
      try {
        spool.claimSession(clientId);
      } catch (err) {
        log.error(`cannot record the session in the spool: ${(err as Error).message}`);
      }
    };
    spool.onStored = () => this.pump();
    spool.opts.onDrop = (m, why) => this.dropped(m, why);
    spool.opts.onSessionExpired = (session, ids) =>
      log.warn(`held QoS 2 ids full: ${count(ids, 'id')} of the session of "${session}", heard of least recently, dropped (a resend of those is stored again)`);
    spool.onUnreadable = (seq, why) => log.error(`spool: queued message ${seq} cannot be read back (${why}): lost; ${spool.unreadable} so far`);
    spool.onBroken = (err) => log.error(`spool cannot store (${err.message}): QoS 1/2 messages are refused until it can`);
    spool.onRepaired = (n) => log.warn(`spool writable again${n ? `; ${n} queued messages written to it again` : ''}`);
  }

  /** Call when the client (re)connects. */
  resume(): void {
    if (this.spool.depth > 0) {
      this.log.info(`edge back: forwarding ${count(this.spool.depth, 'queued message')} (${formatBytes(this.spool.size)})`);
      this.draining = true;
    }
    this.pump();
  }

  pump(): void {
    if (!this.client.connected) return this.report();
    for (const m of this.spool.after(this.sentUpTo, this.window - this.inflight)) {
      this.sentUpTo = m.seq;
      if (this.tooLarge(m)) continue;
      this.inflight++;
      const opts = { packetId: packetIdFor(m.seq), released: this.spool.isReleased(m.seq), onPubrec: () => this.spool.markReleased(m.seq) };
      this.client.publish({ topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain }, opts).then(
        (code) => this.acked(m, code),
        () => this.inflight--, // the client stopped; the message stays in the spool for the next run
      );
    }
  }

  /** Larger than the edge takes: resending it would only close the connection again and again. */
  private tooLarge(m: SpooledMessage): boolean {
    const max = this.client.maxPacketSize;
    const size = publishSize(m.topic, m.payload, this.client.opts.connect.protocolVersion);
    if (!max || size <= max) return false;
    this.setAside++;
    this.log.warn(`set aside a ${formatBytes(size)} message on ${m.topic}: the edge takes at most ${formatBytes(max)}; ${this.setAside} set aside so far`);
    this.spool.ack(m.seq);
    return true;
  }

  private acked(m: SpooledMessage, code: number): void {
    this.inflight--;
    // A refusal (v5 reason >= 0x80) will not change on a retry: log it and move on.
    if (code >= 0x80) this.log.warn(`edge refused message on ${m.topic}: ${reason(code, 'puback')}; not retried`);
    this.spool.ack(m.seq);
    if (this.spool.depth === 0 && (this.lastReport || this.draining)) {
      this.log.info('queue drained');
      this.lastReport = 0;
      this.draining = false;
    }
    this.pump();
  }

  /** While the edge is away: "queue depth" lines, at most one per interval. */
  private report(): void {
    const now = Date.now();
    if (this.spool.depth === 0 || now - this.lastReport < reportEveryMs) return;
    this.lastReport = now;
    this.log.info(`edge away: queue depth ${count(this.spool.depth, 'message')} (${formatBytes(this.spool.size)}), ${this.spool.dropped} dropped so far`);
  }

  /** Drops are logged with their topic, batched to one line per second under a flood. */
  private dropped(m: SpooledMessage, why: string): void {
    this.dropsSinceReport++;
    this.lastDrop = `${m.topic} (${why})`;
    if (this.dropTimer) return;
    this.flushDrops();
    this.dropTimer = setTimeout(() => {
      this.dropTimer = undefined;
      if (this.dropsSinceReport) this.flushDrops();
    }, 1_000);
    this.dropTimer.unref?.();
  }

  private flushDrops(): void {
    const n = this.dropsSinceReport;
    this.dropsSinceReport = 0;
    this.log.warn(`dropped ${count(n, 'message')}, last on ${this.lastDrop}; ${this.spool.dropped} dropped in total`);
  }
}
