// An MQTT client that stays connected: reconnects with backoff, resends unacknowledged QoS 1/2
// publishes in order after a reconnect (outbound.ts), resubscribes when the session is gone,
// and acknowledges inbound QoS 1/2 only once the owner's handler has finished with the message.
import type { Backoff } from './backoff.ts';
import { ack, ReasonCode, type ConnackPacket, type ConnectPacket, type Packet, type PublishPacket, type Subscription } from './codec.ts';
import { handshake, type Connection } from './connection.ts';
import type { Endpoint, TlsOptions } from './endpoint.ts';
import { openLink } from './link.ts';
import type { Logger } from './log.ts';
import { reason } from './messages.ts';
import { Outbound, type OutMessage, type PublishOptions } from './outbound.ts';

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
  /** Packet ids this client picks itself; the rest are the caller's (PublishOptions.packetId). */
  ownIds?: { from: number; to: number };
  /**
   * Inbound QoS 2 ids kept across restarts: ids stored and not yet released by an earlier run (a
   * resend of one, DUP set, is a duplicate), and `onPubrel`, awaited before PUBCOMP goes out.
   */
  heldQoS2?: { restored: Set<number>; onPubrel(id: number): Promise<unknown> };
  /** A WebSocket with nothing arriving for this long is ended as stalled (LinkOptions.stallMs). */
  stallMs?: number;
  /** MQTT 5 first; a broker that refuses that protocol version gets this one instead. */
  fallbackVersion?: 4;
}


export type { OutMessage, PublishOptions } from './outbound.ts';

export class NotConnected extends Error {
  constructor(why = 'not connected') {
    super(why);
    this.name = 'NotConnected';
  }
}

/** Bytes queued on a link beyond which QoS 0 publishes are dropped instead of held. */
const backlogLimit = 1 << 20;

/** A connection that lives this long counts as stable: the next loss restarts the backoff. */
const stableMs = 10_000;

export class Client {
  onMessage: (p: PublishPacket) => unknown = () => {};
  onConnect: (connack: ConnackPacket) => void = () => {};
  onDisconnect: (why: string) => void = () => {};
  onSuback: (reasonCodes: number[]) => void = () => {};
  conn?: Connection;
  /** Set before start(): the first connect throws away whatever session the broker kept for this id. */
  discardSession = false;
  /** Called once that session is gone and a new persistent one is in place. */
  onSessionDiscarded: () => void = () => {};
  /** Each PUBLISH as it goes on the wire, resends included (the bridge's loop guard listens). */
  onWire: (msg: OutMessage) => void = () => {};
  /** The broker's Maximum Packet Size (MQTT 5 CONNACK), once connected. */
  maxPacketSize?: number;
  private stopped = false;
  private readonly out: Outbound;
  private waiters = new Map<number, { resolve(p: Packet): void; reject(err: Error): void }>();
  private received = new Set<number>();
  private connectedAt = 0;
  private ackChain: Promise<unknown> = Promise.resolve();
  private retryTimer?: ReturnType<typeof setTimeout>;

  constructor(readonly opts: ClientOptions) {
    this.out = new Outbound({
      ids: () => opts.ownIds ?? { from: 1, to: 65_535 },
      conn: () => this.conn,
      busy: (id) => this.waiters.has(id),
      wire: (msg) => this.onWire(msg),
    });
  }

  get connected(): boolean {
    return this.conn !== undefined;
  }

  /** Unfinished QoS 1/2 publishes (queued and in flight). */
  get pending(): number {
    return this.out.size;
  }

  /** One attempt; throws LinkError, ConnectRefused or a handshake Error. */
  async connect(): Promise<ConnackPacket> {
    const { connect } = this.opts;
    const fresh = this.discardSession && !connect.clean;
    // MQTT 3.x: a clean session ends with its connection [MQTT-3.1.2-6], so one clean connect
    // empties the session and a second opens it again; MQTT 5 does both in one [MQTT-3.1.2-4].
    if (fresh && connect.protocolVersion < 5) await this.emptySession(connect);
    const { conn, connack } = await this.handshake(fresh && connect.protocolVersion === 5 ? { ...connect, clean: true } : connect);
    if (this.stopped) {
      conn.disconnect();
      return connack;
    }
    if (fresh) {
      this.discardSession = false;
      this.onSessionDiscarded();
    }
    this.connected_(conn, connack);
    return connack;
  }

  /** Connects clean and disconnects, waiting (bounded) for the broker's close so that the session is gone first. */
  private async emptySession(connect: ConnectPacket): Promise<void> {
    const { conn } = await this.handshake({ ...connect, clean: true });
    const closed = new Promise<void>((resolve) => {
      const end = conn.link.onClose;
      conn.link.onClose = (why) => (end(why), resolve());
      setTimeout(resolve, this.opts.connectTimeoutMs ?? 10_000);
    });
    conn.disconnect();
    await closed;
  }

  private async handshake(connect: ConnectPacket): Promise<{ conn: Connection; connack: ConnackPacket }> {
    const { endpoint, tls, connectTimeoutMs = 10_000 } = this.opts;
    const link = await openLink(endpoint, { ...tls, timeoutMs: connectTimeoutMs, stallMs: this.opts.stallMs });
    return handshake(link, connect, connectTimeoutMs);
  }

  /** Keeps connecting until stop(), with backoff between attempts. */
  start(): void {
    void this.attempt();
  }

  /** Resolves with the PUBACK/PUBREC reason code once the broker has the message. */
  publish(msg: OutMessage, opts: PublishOptions = {}): Promise<number> {
    if (msg.qos === 0) {
      if (!this.conn) return Promise.reject(new NotConnected());
      // QoS 0 may be dropped [MQTT-4.3.1]; held in memory behind a slow or stalled link, it must be.
      if (this.conn.link.bufferedAmount > backlogLimit) return Promise.reject(new NotConnected('link backlog full'));
      this.onWire(msg);
      this.conn.send({ type: 'publish', ...msg, dup: false });
      return Promise.resolve(0);
    }
    if (!this.conn && (!this.opts.reconnect || this.stopped)) return Promise.reject(new NotConnected());
    return this.out.push(msg, opts);
  }

  /** SUBSCRIBE or UNSUBSCRIBE on the current connection; resolves with SUBACK/UNSUBACK. */
  request(p: { type: 'subscribe'; subscriptions: Subscription[] } | { type: 'unsubscribe'; topicFilters: string[] }): Promise<Packet> {
    const conn = this.conn;
    if (!conn) return Promise.reject(new NotConnected());
    const packetId = this.out.allocateId();
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
    this.out.failAll(new NotConnected('client stopped'));
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.connect();
    } catch (err) {
      this.opts.log.warn(`cannot connect to ${this.opts.endpoint.display}: ${(err as Error).message}`);
      if (this.fallBack(err)) return void this.attempt();
      const next = this.opts.alternates?.shift();
      if (next) {
        this.opts.alternates!.push(this.opts.endpoint);
        this.opts.endpoint = next;
      }
      this.retry();
    }
  }

  /** CONNACK "unacceptable protocol version" (3.x code 1, or 5's 0x84) to an MQTT 5 CONNECT: speak 3.1.1. */
  private fallBack(err: unknown): boolean {
    const { connect, fallbackVersion } = this.opts;
    const code = (err as { reasonCode?: number }).reasonCode;
    if (!fallbackVersion || connect.protocolVersion !== 5 || (code !== 1 && code !== ReasonCode.UnsupportedProtocolVersion)) return false;
    const { properties: _p, ...v3 } = connect;
    this.opts.connect = { ...v3, protocolVersion: fallbackVersion };
    this.opts.log.info(`the broker does not speak MQTT 5: using 3.1.1`);
    return true;
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
    this.out.window = Math.min(this.opts.inflight ?? 16, props.receiveMaximum ?? 65535);
    this.maxPacketSize = props.maximumPacketSize;
    conn.keepalive(props.serverKeepAlive ?? this.opts.connect.keepalive);
    conn.onClose = (why) => this.lost(conn, why);
    if (!connack.sessionPresent) {
      this.received.clear();
      this.opts.heldQoS2?.restored.clear();
    }
    this.out.requeue(connack.sessionPresent);
    conn.attach((p) => this.handle(conn, p));
    const subs = this.opts.subscriptions ?? [];
    if (!connack.sessionPresent && subs.length > 0) {
      void this.request({ type: 'subscribe', subscriptions: subs }).then((p) => this.onSuback(p.type === 'suback' ? p.reasonCodes : []), () => {});
    }
    this.onConnect(connack);
    this.out.pump();
  }

  private handle(conn: Connection, p: Packet): void {
    switch (p.type) {
      case 'publish':
        return this.inbound(conn, p);
      case 'pubrel':
        return this.pubrel(conn, p.packetId);
      case 'puback':
      case 'pubcomp':
        return this.out.complete(p.packetId, p.reasonCode ?? 0);
      case 'pubrec':
        return this.out.pubrec(conn, p.packetId, p.reasonCode ?? 0);
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
    const restored = this.opts.heldQoS2?.restored;
    // [MQTT-4.3.3]: a resend of a stored id is acknowledged, not delivered again; DUP 0 is always new.
    const duplicate = p.qos === 2 && (this.received.has(id) || (p.dup && restored?.has(id) === true));
    if (!duplicate) restored?.delete(id);
    if (p.qos === 2) this.received.add(id);
    const handled = duplicate ? Promise.resolve() : Promise.resolve().then(() => this.onMessage(p));
    this.ackChain = this.ackChain
      .then(() => handled)
      .then(
        () => conn.send(ack(p.qos === 1 ? 'puback' : 'pubrec', id)),
        (err: Error) => this.opts.log.warn(`message on ${p.topic} not acknowledged: ${err.message}`),
      );
  }

  private pubrel(conn: Connection, packetId: number): void {
    this.received.delete(packetId);
    this.opts.heldQoS2?.restored.delete(packetId);
    const free = this.opts.heldQoS2?.onPubrel(packetId) ?? Promise.resolve();
    const pubcomp = () => conn.send(ack('pubcomp', packetId));
    free.then(pubcomp, pubcomp);
  }

  private lost(conn: Connection, why: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.ackChain = Promise.resolve();
    for (const w of this.waiters.values()) w.reject(new NotConnected(why));
    this.waiters.clear();
    if (Date.now() - this.connectedAt > stableMs) this.opts.reconnect?.reset();
    if (!this.opts.reconnect) this.out.failAll(new NotConnected(why));
    if (!this.stopped) this.onDisconnect(why);
    this.retry();
  }
}
