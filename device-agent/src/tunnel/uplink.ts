// A buffered device's own connection to the edge: opened with the device's CONNECT, reopened
// with backoff while the device stays, closed when the device goes. Relays the edge's packets.
import type { Backoff } from '../backoff.ts';
import type { ConnackPacket, ConnectPacket, Packet } from '../codec.ts';
import { handshake, type Connection } from '../connection.ts';
import type { Endpoint, TlsOptions } from '../endpoint.ts';
import { openLink } from '../link.ts';
import type { Logger } from '../log.ts';

export interface UplinkOptions {
  endpoint: Endpoint;
  tls: TlsOptions;
  connectTimeoutMs: number;
  stallMs: number;
  backoff: Backoff;
  log: Logger;
}

export class Uplink {
  conn?: Connection;
  onPacket: (p: Packet) => void = () => {};
  onUp: (connack: ConnackPacket, first: boolean) => void = () => {};
  /** The edge refused the CONNECT (or closed before answering the first one). */
  onRefused: (connack: ConnackPacket | undefined, why: string) => void = () => {};
  /** The first attempt could not reach the edge (it keeps trying). */
  onUnreachable: (why: string) => void = () => {};
  private stopped = false;
  private attempts = 0;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(private readonly connect: ConnectPacket, private readonly opts: UplinkOptions) {}

  start(): void {
    void this.attempt();
  }

  /** Ends the edge side; abrupt unless the device said DISCONNECT (so the edge keeps or fires the will). */
  stop(disconnect?: Packet): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const conn = this.conn;
    this.conn = undefined;
    if (!conn) return;
    if (disconnect) {
      conn.send(disconnect);
      queueMicrotask(() => conn.link.close());
    } else conn.destroy('device gone');
  }

  private async attempt(): Promise<void> {
    const first = this.attempts++ === 0;
    try {
      const link = await openLink(this.opts.endpoint, { ...this.opts.tls, timeoutMs: this.opts.connectTimeoutMs, stallMs: this.opts.stallMs });
      const { conn, connack } = await handshake(link, this.connect, this.opts.connectTimeoutMs);
      if (this.stopped) return conn.destroy('device gone');
      this.up(conn, connack, first);
    } catch (err) {
      const connack = (err as { reasonCode?: number }).reasonCode;
      if (connack !== undefined && first) return this.onRefused({ type: 'connack', sessionPresent: false, reasonCode: connack }, (err as Error).message);
      this.opts.log.warn(`edge unreachable: ${(err as Error).message}`);
      if (first) this.onUnreachable((err as Error).message);
      this.retry();
    }
  }

  private up(conn: Connection, connack: ConnackPacket, first: boolean): void {
    this.conn = conn;
    const started = Date.now();
    conn.keepalive(connack.properties?.serverKeepAlive ?? this.connect.keepalive);
    conn.onClose = (why) => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      if (Date.now() - started > 10_000) this.opts.backoff.reset();
      this.opts.log.warn(`edge connection lost: ${why}`);
      this.retry();
    };
    this.onUp(connack, first);
    conn.attach((p) => this.onPacket(p));
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = this.opts.backoff.next();
    this.opts.log.info(`reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${this.opts.backoff.attempt})`);
    this.timer = setTimeout(() => void this.attempt(), delay);
  }
}
