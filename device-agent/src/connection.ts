// One MQTT connection over one Link, client side: the CONNECT/CONNACK handshake, decoding,
// coalesced sends and keepalive [MQTT-3.1.2.10]. What to do with packets is the owner's business.
import { Decoder, encode, MqttError, type ConnackPacket, type ConnectPacket, type Packet, type ProtocolVersion } from './codec.ts';
import { concat } from './frame.ts';
import type { Link } from './link.ts';
import { connackReason } from './messages.ts';

/** The broker answered CONNACK with a failure code. */
export class ConnectRefused extends Error {
  constructor(readonly reasonCode: number, version: ProtocolVersion) {
    super(`the broker refused the connection: ${connackReason(reasonCode, version)}`);
    this.name = 'ConnectRefused';
  }
}

export class Connection {
  onPacket: (p: Packet) => void = () => {};
  onClose: (why: string) => void = () => {};
  closed = false;
  private readonly decoder: Decoder;
  private queue: Uint8Array[] = [];
  private lastSent = Date.now();
  private pingSent = 0;
  private timer?: ReturnType<typeof setInterval>;

  constructor(readonly link: Link, public version: ProtocolVersion) {
    this.decoder = new Decoder({ protocolVersion: version });
    link.onData = (bytes) => this.receive(bytes);
    link.onClose = (why) => this.end(why);
  }

  backlog: Packet[] = [];

  /** Hands packets to `handler`, first those that arrived before the owner was ready. */
  attach(handler: (p: Packet) => void): void {
    this.onPacket = handler;
    for (const p of this.backlog.splice(0)) if (!this.closed) handler(p);
  }

  /** Queues a packet; everything queued in one tick leaves as one WebSocket message. */
  send(p: Packet): void {
    if (this.closed) return;
    if (this.queue.push(encode(p, this.version)) === 1) queueMicrotask(() => this.flush());
  }

  /** Sends PINGREQ when idle for `seconds`; ends the link when the answer is that late too. */
  keepalive(seconds: number): void {
    if (seconds <= 0) return;
    const ms = seconds * 1000;
    this.timer = setInterval(() => {
      const now = Date.now();
      if (this.pingSent && now - this.pingSent > ms) return this.destroy('keepalive timeout: no PINGRESP');
      if (!this.pingSent && now - this.lastSent >= ms) {
        this.send({ type: 'pingreq' });
        this.pingSent = now;
      }
    }, Math.max(100, Math.min(ms / 4, 5_000)));
    this.timer.unref?.();
  }

  /** DISCONNECT, then close: the broker discards the will [MQTT-3.14.4-3]. */
  disconnect(): void {
    if (this.closed) return;
    this.send({ type: 'disconnect' });
    this.flush();
    this.link.close();
    this.end('disconnected');
  }

  /** Sends what is queued, then closes the link politely. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.link.close();
    this.end('closed');
  }

  /** Drops the link without DISCONNECT (the broker publishes the will). */
  destroy(why: string): void {
    this.link.destroy();
    this.end(why);
  }

  private flush(): void {
    if (this.queue.length === 0 || this.closed) return;
    this.link.send(concat(this.queue));
    this.queue = [];
    this.lastSent = Date.now();
  }

  lastReceived = Date.now();

  private receive(bytes: Uint8Array): void {
    this.lastReceived = Date.now();
    this.decoder.push(bytes);
    try {
      for (let p = this.decoder.next(); p && !this.closed; p = this.decoder.next()) {
        if (p.type === 'pingresp') this.pingSent = 0;
        this.onPacket(p);
      }
    } catch (err) {
      this.destroy(`bad packet: ${(err as Error).message}`);
    }
  }

  private end(why: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.onClose(why);
  }
}

/** Sends CONNECT and waits for CONNACK; throws ConnectRefused or an Error (timeout, closed). */
export function handshake(link: Link, connect: ConnectPacket, timeoutMs: number): Promise<{ conn: Connection; connack: ConnackPacket }> {
  const conn = new Connection(link, connect.protocolVersion);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.destroy('no CONNACK');
      reject(new Error(`no CONNACK within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.onClose = (why) => {
      clearTimeout(timer);
      reject(new Error(`closed before CONNACK: ${why}`));
    };
    conn.onPacket = (p) => {
      clearTimeout(timer);
      conn.onClose = () => {};
      if (p.type !== 'connack') {
        conn.destroy('expected CONNACK');
        return reject(new MqttError(0x82, `expected CONNACK, got ${p.type}`));
      }
      if (p.reasonCode !== 0) {
        conn.destroy('refused');
        return reject(new ConnectRefused(p.reasonCode, connect.protocolVersion));
      }
      // Packets right behind CONNACK (a resumed session's queue) wait for attach().
      const backlog: Packet[] = [];
      conn.onPacket = (q) => backlog.push(q);
      conn.backlog = backlog;
      resolve({ conn, connack: p });
    };
    conn.send(connect);
  });
}
