// An MQTT client that stays connected: reconnects with backoff, resends unacknowledged QoS 1/2
// publishes in order after a reconnect [MQTT-4.4.0-1], resubscribes when the session is gone,
// and acknowledges inbound QoS 1/2 only once the owner's handler has finished with the message.
import { ack, type ConnackPacket, type ConnectPacket, type Packet, type PublishPacket, type Properties, type QoS, type Subscription } from './codec.ts';
import type { Backoff } from './backoff.ts';
import { handshake, type Connection } from './connection.ts';
import type { Endpoint, TlsOptions } from './endpoint.ts';
import { openLink } from './link.ts';
import type { Logger } from './log.ts';
import { reason } from './messages.ts';

export interface OutMessage {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  properties?: Properties;
}

export interface ClientOptions {
  endpoint: Endpoint;
  tls?: TlsOptions;
  connect: ConnectPacket;
  log: Logger;
  /** Without one, a lost connection stays lost. */
  reconnect?: Backoff;
  connectTimeoutMs?: number;
  /** Outgoing QoS 1/2 window; the broker's Receive Maximum lowers it. */
  inflight?: number;
  /** Other URLs for the same broker, tried in turn after a failed attempt. */
  alternates?: Endpoint[];
  /** Subscribed on every connect that has no session to resume. */
  subscriptions?: Subscription[];
}

export class NotConnected extends Error {
  constructor(why = 'not connected') {
    super(why);
    this.name = 'NotConnected';
  }
}

interface Pending {
  msg: OutMessage;
  packetId?: number;
  state: 'publish' | 'pubrel';
  resolve(reasonCode: number): void;
  reject(err: Error): void;
}

/** A connection that lives this long counts as stable: the next loss restarts the backoff. */
const stableMs = 10_000;

export class Client {
  onMessage: (p: PublishPacket) => unknown = () => {};
  onConnect: (connack: ConnackPacket) => void = () => {};
  onDisconnect: (why: string) => void = () => {};
  onSuback: (reasonCodes: number[]) => void = () => {};
  conn?: Connection;
  private stopped = false;
  private outbox: Pending[] = [];
  private inflight = new Map<number, Pending>();
  private waiters = new Map<number, { resolve(p: Packet): void; reject(err: Error): void }>();
  private received = new Set<number>();
  private nextId = 0;
  private window = 16;
  private connectedAt = 0;
  private ackChain: Promise<unknown> = Promise.resolve();
  private retryTimer?: ReturnType<typeof setTimeout>;

  constructor(readonly opts: ClientOptions) {}

  get connected(): boolean {
    return this.conn !== undefined;
  }

  /** Unfinished QoS 1/2 publishes (queued and in flight). */
  get pending(): number {
    return this.outbox.length + this.inflight.size;
  }

  /** One attempt; throws LinkError, ConnectRefused or a handshake Error. */
  async connect(): Promise<ConnackPacket> {
    const { endpoint, tls, connectTimeoutMs = 10_000 } = this.opts;
    const link = await openLink(endpoint, { ...tls, timeoutMs: connectTimeoutMs });
    const { conn, connack } = await handshake(link, this.opts.connect, connectTimeoutMs);
    if (this.stopped) {
      conn.disconnect();
      return connack;
    }
    this.connected_(conn, connack);
    return connack;
  }

  /** Keeps connecting until stop(), with backoff between attempts. */
  start(): void {
    void this.attempt();
  }

  /** Resolves with the PUBACK/PUBREC reason code once the broker has the message. */
  publish(msg: OutMessage): Promise<number> {
    if (msg.qos === 0) {
      if (!this.conn) return Promise.reject(new NotConnected());
      this.conn.send({ type: 'publish', ...msg, dup: false });
      return Promise.resolve(0);
    }
    if (!this.conn && (!this.opts.reconnect || this.stopped)) return Promise.reject(new NotConnected());
    return new Promise((resolve, reject) => {
      this.outbox.push({ msg, state: 'publish', resolve, reject });
      this.pump();
    });
  }

  /** SUBSCRIBE or UNSUBSCRIBE on the current connection; resolves with SUBACK/UNSUBACK. */
  request(p: { type: 'subscribe'; subscriptions: Subscription[] } | { type: 'unsubscribe'; topicFilters: string[] }): Promise<Packet> {
    const conn = this.conn;
    if (!conn) return Promise.reject(new NotConnected());
    const packetId = this.allocateId();
    return new Promise((resolve, reject) => {
      this.waiters.set(packetId, { resolve, reject });
      conn.send({ ...p, packetId });
    });
  }

  /** DISCONNECT and stop reconnecting; unfinished publishes are rejected. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.conn?.disconnect();
    this.failPending('client stopped');
  }

  private failPending(why: string): void {
    for (const p of [...this.inflight.values(), ...this.outbox.splice(0)]) p.reject(new NotConnected(why));
    this.inflight.clear();
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.connect();
    } catch (err) {
      this.opts.log.warn(`cannot connect to ${this.opts.endpoint.display}: ${(err as Error).message}`);
      const next = this.opts.alternates?.shift();
      if (next) {
        this.opts.alternates!.push(this.opts.endpoint);
        this.opts.endpoint = next;
      }
      this.retry();
    }
  }

  private retry(): void {
    if (this.stopped || !this.opts.reconnect) return;
    const delay = this.opts.reconnect.next();
    this.opts.log.info(`reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${this.opts.reconnect.attempt})`);
    this.retryTimer = setTimeout(() => void this.attempt(), delay);
  }

  private connected_(conn: Connection, connack: ConnackPacket): void {
    this.conn = conn;
    this.connectedAt = Date.now();
    const props = connack.properties ?? {};
    this.window = Math.min(this.opts.inflight ?? 16, props.receiveMaximum ?? 65535);
    conn.keepalive(props.serverKeepAlive ?? this.opts.connect.keepalive);
    conn.onClose = (why) => this.lost(conn, why);
    if (!connack.sessionPresent) this.received.clear();
    this.requeue(connack.sessionPresent);
    conn.attach((p) => this.handle(conn, p));
    const subs = this.opts.subscriptions ?? [];
    if (!connack.sessionPresent && subs.length > 0) {
      void this.request({ type: 'subscribe', subscriptions: subs }).then((p) => this.onSuback(p.type === 'suback' ? p.reasonCodes : []), () => {});
    }
    this.onConnect(connack);
    this.pump();
  }

  /** In-flight messages go back to the head of the outbox, in their original order. */
  private requeue(sessionPresent: boolean): void {
    const again: Pending[] = [];
    for (const p of this.inflight.values()) {
      if (p.state === 'pubrel' && !sessionPresent) p.resolve(0); // the broker had it; its session is gone
      else again.push(p);
    }
    this.inflight.clear();
    this.outbox.unshift(...again);
  }

  private pump(): void {
    const conn = this.conn;
    while (conn && this.outbox.length > 0 && this.inflight.size < this.window) {
      const p = this.outbox.shift()!;
      const resend = p.packetId !== undefined;
      p.packetId ??= this.allocateId();
      this.inflight.set(p.packetId, p);
      if (p.state === 'pubrel') conn.send(ack('pubrel', p.packetId));
      else conn.send({ type: 'publish', ...p.msg, packetId: p.packetId, dup: resend });
    }
  }

  private handle(conn: Connection, p: Packet): void {
    switch (p.type) {
      case 'publish':
        return this.inbound(conn, p);
      case 'pubrel':
        this.received.delete(p.packetId);
        return conn.send(ack('pubcomp', p.packetId));
      case 'puback':
      case 'pubcomp':
        return this.complete(p.packetId, p.reasonCode ?? 0);
      case 'pubrec':
        return this.pubrec(conn, p.packetId, p.reasonCode ?? 0);
      case 'suback':
      case 'unsuback':
        this.waiters.get(p.packetId)?.resolve(p);
        this.waiters.delete(p.packetId);
        return;
      case 'disconnect':
        this.opts.log.warn(`the broker sent DISCONNECT ${reason(p.reasonCode ?? 0, 'disconnect')}${p.properties?.reasonString ? `: ${p.properties.reasonString}` : ''}`);
        return;
    }
  }

  /** QoS 1/2 acks go out in the order the publishes came in [MQTT-4.6.0-2], after the handler. */
  private inbound(conn: Connection, p: PublishPacket): void {
    if (p.qos === 0) return void this.onMessage(p);
    const id = p.packetId!;
    const duplicate = p.qos === 2 && this.received.has(id);
    if (p.qos === 2) this.received.add(id);
    const handled = duplicate ? Promise.resolve() : Promise.resolve().then(() => this.onMessage(p));
    this.ackChain = this.ackChain
      .then(() => handled)
      .then(
        () => conn.send(ack(p.qos === 1 ? 'puback' : 'pubrec', id)),
        (err: Error) => this.opts.log.warn(`message on ${p.topic} not acknowledged: ${err.message}`),
      );
  }

  private pubrec(conn: Connection, packetId: number, reasonCode: number): void {
    const p = this.inflight.get(packetId);
    if (!p) return;
    if (reasonCode >= 0x80) return this.complete(packetId, reasonCode);
    p.state = 'pubrel';
    conn.send(ack('pubrel', packetId));
  }

  private complete(packetId: number, reasonCode: number): void {
    const p = this.inflight.get(packetId);
    if (!p) return;
    this.inflight.delete(packetId);
    p.resolve(reasonCode);
    this.pump();
  }

  private allocateId(): number {
    for (let i = 0; i < 65535; i++) {
      this.nextId = (this.nextId % 65535) + 1;
      if (!this.inflight.has(this.nextId) && !this.waiters.has(this.nextId) && !this.outbox.some((p) => p.packetId === this.nextId)) return this.nextId;
    }
    throw new Error('no free packet identifier');
  }

  private lost(conn: Connection, why: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.ackChain = Promise.resolve();
    for (const w of this.waiters.values()) w.reject(new NotConnected(why));
    this.waiters.clear();
    if (Date.now() - this.connectedAt > stableMs) this.opts.reconnect?.reset();
    if (!this.opts.reconnect) this.failPending(why);
    if (!this.stopped) this.onDisconnect(why);
    this.retry();
  }
}
