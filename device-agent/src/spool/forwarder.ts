// Drains the spool to the edge in order: a window of messages is handed to the Client, which
// resends them across reconnects; each one is acknowledged in the spool when the edge has it.
// Logs the queue depth while the edge is away, and what is dropped when the spool is full.
import type { Client } from '../client.ts';
import { formatBytes, type Logger } from '../log.ts';
import { count, reason } from '../messages.ts';
import type { SpooledMessage } from './record.ts';
import type { Spool } from './spool.ts';

const reportEveryMs = 10_000;

export class Forwarder {
  /** Called as each message leaves for the edge (the bridge's loop guard listens). */
  onSend: (m: SpooledMessage) => void = () => {};
  private sentUpTo = 0;
  private inflight = 0;
  private lastReport = 0;
  private dropsSinceReport = 0;
  private dropTimer?: ReturnType<typeof setTimeout>;
  private lastDrop = '';

  constructor(private readonly spool: Spool, private readonly client: Client, private readonly log: Logger, private readonly window = 16) {
    spool.onAppend = () => this.pump();
    spool.opts.onDrop = (m, why) => this.dropped(m, why);
  }

  /** Call when the client (re)connects. */
  resume(): void {
    if (this.spool.depth > 0) this.log.info(`edge back: forwarding ${count(this.spool.depth, 'queued message')} (${formatBytes(this.spool.size)})`);
    this.pump();
  }

  pump(): void {
    if (!this.client.connected) return this.report();
    for (const m of this.spool.after(this.sentUpTo, this.window - this.inflight)) {
      this.sentUpTo = m.seq;
      this.inflight++;
      this.onSend(m);
      this.client.publish({ topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain }).then(
        (code) => this.acked(m, code),
        () => this.inflight--, // the client stopped; the message stays in the spool for the next run
      );
    }
  }

  private acked(m: SpooledMessage, code: number): void {
    this.inflight--;
    // A refusal (v5 reason >= 0x80) will not change on a retry: log it and move on.
    if (code >= 0x80) this.log.warn(`edge refused message on ${m.topic}: ${reason(code, 'puback')}; not retried`);
    this.spool.ack(m.seq);
    if (this.spool.depth === 0 && this.lastReport) {
      this.log.info('queue drained');
      this.lastReport = 0;
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
