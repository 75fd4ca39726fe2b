// One client connection: state gate, decode → dispatch to handlers, and the one place where an
// MqttError becomes wire output (CONNACK before the session is active, DISCONNECT on v5, a
// plain close on 3.x). Outgoing packets of one event are coalesced into one link write.
import {
  Decoder, encode, MqttError, ReasonCode, isReasonCodeAllowed, v3ConnackReturnCode,
  type Packet, type ProtocolVersion,
} from '../protocol/index.ts';
import type { Broker } from './broker.ts';
import type { ClientInfo, DropReason, Principal, Traffic } from './hooks.ts';
import type { Link, Message, OutboundMessage } from './ports.ts';
import type { Outlet, Session } from './session.ts';
import { dispatch } from './handlers/index.ts';
import { writeFrames } from './frames.ts';
import { maxPeerLength, packPrincipal, packUtf8, unpackPrincipal, unpackUtf8, type ConnectionSnapshot } from './snapshot.ts';
import type { PendingAuth } from './handlers/auth.ts';

export type ConnectionState = 'awaiting-connect' | 'active' | 'closing' | 'closed';

/** Refusals a 3.x CONNACK can express; other errors before CONNECT just close [MQTT-3.2.2-6]. */
const v3Refusals = new Set<number>([
  ReasonCode.UnsupportedProtocolVersion, ReasonCode.ClientIdentifierNotValid, ReasonCode.BadUserNameOrPassword,
  ReasonCode.NotAuthorized, ReasonCode.ServerUnavailable, ReasonCode.ServerBusy, ReasonCode.Banned,
  ReasonCode.BadAuthenticationMethod, ReasonCode.QuotaExceeded, ReasonCode.ConnectionRateExceeded,
]);

export type { ConnectionSnapshot };

export class Connection implements Outlet {
  state: ConnectionState = 'awaiting-connect';
  version: ProtocolVersion = 4;
  clientId = '';
  username?: string;
  /** Who the client authenticated as, when an authentication hook said. */
  principal?: Principal;
  readonly peer?: string;
  /** The v5 Authentication Method the client authenticated with (re-authentication uses it). */
  authMethod?: string;
  /** An enhanced authentication exchange in progress. */
  auth?: PendingAuth;
  /** Seconds, as granted; 0 disables the check. */
  keepalive = 0;
  lastActivity: number;
  readonly openedAt: number;
  /** Client's Receive Maximum (outbound window). */
  window: number;
  /** Largest packet the client accepts [MQTT-3.1.2-24]. */
  maxPacketSize = 0;
  problemInformation = true;
  readonly topicAliases = new Map<number, string>();
  /** QoS 2 publishes received on this connection and not yet released: the inbound window. */
  incomingQoS2 = 0;
  /** The client set a will (the session holds it; this says the gateway must watch for a restart). */
  hasWill = false;
  session?: Session;
  /** Whether the session's message flows are in the store (it outlives the connection). */
  durable = false;
  private info?: ClientInfo;
  /** Counts changes to what snapshot() holds, last activity aside: the transport rewrites it then. */
  revision = 0;
  /** Bytes the decoder holds of an unfinished packet (counted in the gateway's partialBytes). */
  partial = 0;
  /** When the unfinished packet's first bytes arrived (ms). */
  private partialSince?: number;

  readonly id: string;
  readonly broker: Broker;
  private readonly link: Link;
  private readonly decoder: Decoder;
  /** One encoded packet per entry. */
  private outbox: Uint8Array[] = [];
  private chain: Promise<void> = Promise.resolve();
  /** Acknowledgements waiting for their messages to be accepted elsewhere (sharded topology). */
  private acks?: Promise<void>;

  constructor(id: string, broker: Broker, link: Link, snapshot?: ConnectionSnapshot) {
    this.id = id;
    this.broker = broker;
    this.link = link;
    const now = broker.clock.now();
    this.openedAt = snapshot?.openedAt ?? now;
    this.lastActivity = snapshot?.lastActivity ?? now;
    this.peer = (snapshot?.peer ?? link.peer)?.slice(0, maxPeerLength);
    this.window = broker.config.maxInflight;
    this.decoder = new Decoder({ maxPacketSize: broker.config.maxPacketSize });
    if (snapshot) this.restore(snapshot);
  }

  /** Who this is, for the hooks: the same object until one of its fields changes (hooks run per message). */
  get client(): ClientInfo {
    const c = this.info;
    if (c && c.clientId === this.clientId && c.username === this.username && c.protocolVersion === this.version
      && c.principal === this.principal && c.peer === this.peer) return c;
    return (this.info = { clientId: this.clientId, username: this.username, protocolVersion: this.version, principal: this.principal, peer: this.peer });
  }

  /**
   * Feeds bytes from the transport; packets are handled strictly in order. Resolves once they
   * are handled and their acknowledgements are out; the next bytes need not wait for the latter.
   */
  receive(bytes: Uint8Array): Promise<void> {
    this.chain = this.chain.then(() => this.process(bytes));
    return this.chain.then(() => this.acks);
  }

  /**
   * Acknowledges once `accepted` resolves, after every acknowledgement before it, so PUBACKs and
   * PUBRECs keep the order of the PUBLISH packets [MQTT-4.6.0-2] while the messages travel to
   * their shards together. A message that was not accepted ends the connection.
   */
  inOrder(accepted: number | Promise<number>, ack: (matched: number) => void): void {
    if (typeof accepted === 'number' && !this.acks) return ack(accepted);
    const done: Promise<void> = (this.acks ?? Promise.resolve()).then(() => accepted).then(ack).catch((err: unknown) => this.fail(err))
      .finally(() => {
        if (this.acks === done) this.acks = undefined;
      });
    this.acks = done;
  }

  /**
   * Resolves once the packets received are handled (a SUBSCRIBE's calls to its shards among them)
   * and every acknowledgement waiting on a shard went out, or failed (sharded topology): what a
   * session that leaves waits for, so no call of its connection lands after it left.
   */
  pending(): Promise<void> {
    return this.chain.then(() => this.acks).catch(() => undefined);
  }

  private async process(bytes: Uint8Array): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.lastActivity = this.broker.clock.now();
    const traffic: Traffic = { direction: 'in', bytes: bytes.length, packets: 0, publishes: 0 };
    try {
      this.decoder.push(bytes);
      const most = this.broker.config.maxPacketsPerMessage;
      for (let packet = this.decoder.next(); packet; packet = this.decoder.next()) {
        if (++traffic.packets > most) throw new MqttError(ReasonCode.MessageRateTooHigh, `more than ${most} packets in one message`);
        if (packet.type === 'publish') traffic.publishes++;
        // a handler that finished at once is not awaited: the packets of one message reach the
        // sharded topology's batched calls together, not the first in a call of its own
        const handled = dispatch(this, packet);
        if (handled) await handled;
        if (this.state !== 'awaiting-connect' && this.state !== 'active') return;
      }
      this.holdPartial();
    } catch (err) {
      this.fail(err);
    } finally {
      this.broker.hooks.emit('onTraffic', this.client, traffic);
    }
  }

  /**
   * Accounts the bytes of an unfinished packet against the object's budget, and starts its
   * deadline; throws 0x89 when this connection's bytes would pass the budget.
   */
  private holdPartial(): void {
    const held = this.decoder.pendingBytes;
    const gateway = this.broker.gateway;
    gateway.partialBytes += held - this.partial;
    this.partial = held;
    if (held === 0) return void (this.partialSince = undefined);
    if (this.partialSince === undefined) {
      this.partialSince = this.now();
      this.broker.due(this.partialSince + this.broker.config.partialPacketTimeout);
    }
    const max = this.broker.config.maxPartialPacketBytes;
    if (gateway.partialBytes > max) throw new MqttError(ReasonCode.ServerBusy, `unfinished packets over ${max} bytes`);
  }

  /** The one translation of an error into wire output [MQTT-4.13.1-1]. */
  fail(err: unknown): void {
    const error = err instanceof MqttError ? err : new MqttError(ReasonCode.ImplementationSpecificError, String(err));
    if (!(err instanceof MqttError)) this.broker.log('error', `connection ${this.id}: ${String(err)}`);
    const code = error.reasonCode;
    if (this.state === 'awaiting-connect') {
      this.version = this.decoder.protocolVersion; // what the CONNECT said, even if it went no further
      this.broker.hooks.emit('onConnectRefused', this.client, code);
      if (this.version === 5 && isReasonCodeAllowed(code, 'connack')) this.send(this.connack(code, error));
      else if (this.version < 5 && v3Refusals.has(code)) {
        this.send({ type: 'connack', sessionPresent: false, reasonCode: v3ConnackReturnCode(code) });
      }
    } else if (this.state === 'active' && this.version === 5 && isReasonCodeAllowed(code, 'disconnect')) {
      this.send({ type: 'disconnect', reasonCode: code, properties: this.reason(error) });
    }
    this.close('abnormal');
  }

  private connack(code: number, error: MqttError): Packet {
    return { type: 'connack', sessionPresent: false, reasonCode: code, properties: this.reason(error) };
  }

  /** A Reason String, unless the client asked for none [MQTT-3.1.2-29]. */
  reason(error: MqttError): { reasonString: string } | undefined {
    return this.problemInformation && error.message ? { reasonString: error.message } : undefined;
  }

  /** Delivers a routed message: QoS 0 at once, QoS 1/2 through the session's window. */
  deliver(message: Message, identifiers: number[]): void {
    if (message.qos > 0) return this.session?.enqueue(message, identifiers.length ? identifiers : undefined, this);
    if (message.expiresAt !== undefined && message.expiresAt <= this.now()) return this.dropped('expired');
    this.sendPublish({ seq: 0, message, subscriptionIdentifiers: identifiers, state: 'sent' }, false);
  }

  sendPublish(entry: OutboundMessage, dup: boolean): boolean {
    const hooks = this.broker.hooks;
    if (hooks.has('authorizeDeliver') && hooks.check('authorizeDeliver', this.client, entry.message.topic) !== undefined) {
      this.dropped('not-authorized'); // every PUBLISH to a client passes here: nothing denied reaches it
      return false;
    }
    const template = this.broker.template(entry, this.version, this.now());
    if (this.maxPacketSize && template.size > this.maxPacketSize) {
      this.dropped('too-large'); // [MQTT-3.1.2-25]
      return false;
    }
    this.sendBytes(template.bytes(entry.packetId, dup));
    return true;
  }

  sendPubrel(packetId: number, reasonCode?: number): void {
    this.send({ type: 'pubrel', packetId, reasonCode: this.version === 5 ? reasonCode : undefined });
  }

  dropped(reason: DropReason): void {
    this.broker.dropped(this.clientId, reason);
  }

  now(): number {
    return this.broker.clock.now();
  }

  settleLater(): void {
    this.broker.gateway.markDirty(this);
  }

  settleNextTurn(): void {
    this.broker.gateway.nextTurn(this);
  }

  /** The turn `settleNextTurn` asked for: the session's drain goes on at this flush. */
  turn(): void {
    if (this.state !== 'active') return;
    this.session?.nextTurn();
    this.broker.gateway.markDirty(this);
  }

  send(packet: Packet): void {
    this.sendBytes(encode(packet, this.version));
  }

  sendBytes(bytes: Uint8Array): void {
    if (this.state === 'closed') return;
    this.outbox.push(bytes);
    this.broker.gateway.markDirty(this);
  }

  /**
   * The end of an event: the session deletes what was acknowledged and refills its window (a
   * closing connection's only deletes), then what this event produced is written as few
   * messages as maxFrameBytes allows, cut between packets.
   */
  flush(): void {
    this.session?.settle(this.state === 'active' ? this : undefined);
    if (!this.outbox.length) return;
    const parts = this.outbox;
    this.outbox = [];
    const bytes = writeFrames(parts, (frame) => this.link.send(frame));
    if (!this.broker.hooks.has('onTraffic')) return;
    let publishes = 0;
    for (const p of parts) if (p[0] >> 4 === 3) publishes++; // PUBLISH's packet type [MQTT-2.1.2]
    this.broker.hooks.emit('onTraffic', this.client, { direction: 'out', bytes, packets: parts.length, publishes });
  }

  /** Server-initiated end with a v5 DISCONNECT reason code (3.x: just closed). */
  disconnect(reasonCode: number, reasonString?: string): void {
    if (this.state !== 'active' && this.state !== 'awaiting-connect') return;
    if (this.state === 'active' && this.version === 5) {
      this.send({ type: 'disconnect', reasonCode, properties: reasonString ? { reasonString } : undefined });
    }
    this.close(reasonCode === ReasonCode.SessionTakenOver ? 'takeover' : 'abnormal');
  }

  /** Ends the connection; the broker runs will and session-end rules. */
  close(how: 'normal' | 'abnormal' | 'takeover'): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.state = 'closing';
    this.decoder.release(); // an unfinished packet's bytes are no one's now
    this.flush();
    this.broker.gateway.closed(this, how);
    this.state = 'closed';
    this.link.close();
  }

  /** The transport went away under us. */
  lost(): void {
    this.close('abnormal');
  }

  /** Something snapshot() holds changed. */
  changed(): void {
    this.revision++;
  }

  snapshot(): ConnectionSnapshot {
    return {
      v: 2, id: this.id, state: this.state === 'active' ? 'active' : 'awaiting-connect',
      openedAt: this.openedAt, lastActivity: this.lastActivity, version: this.version,
      clientId: this.clientId, username: this.username === this.principal?.username ? undefined : this.username,
      principal: packPrincipal(this.principal), peer: this.peer, authMethod: this.authMethod, keepalive: this.keepalive, window: this.window,
      maxPacketSize: this.maxPacketSize, problemInformation: this.problemInformation,
      topicAliases: [...this.topicAliases].map(([alias, topic]) => [alias, packUtf8(topic)]), incomingQoS2: this.incomingQoS2, durable: this.durable,
      ...(this.hasWill ? { hasWill: true } : {}),
    };
  }

  private restore(s: ConnectionSnapshot): void {
    Object.assign(this, {
      state: s.state, version: s.version, clientId: s.clientId, username: s.username ?? s.principal?.username, principal: unpackPrincipal(s.principal), authMethod: s.authMethod,
      keepalive: s.keepalive, window: s.window, maxPacketSize: s.maxPacketSize,
      problemInformation: s.problemInformation, incomingQoS2: s.incomingQoS2, durable: s.durable, hasWill: s.hasWill === true,
    });
    this.decoder.protocolVersion = s.version;
    for (const [alias, packed] of s.topicAliases) this.topicAliases.set(alias, unpackUtf8(packed));
    if (s.state === 'active') this.session = this.broker.sessions.resume(s.clientId, s.durable);
  }

  /** When this connection must be heard from next (ms), or undefined. */
  deadline(): number | undefined {
    const partial = this.partialSince === undefined ? Infinity : this.partialSince + this.broker.config.partialPacketTimeout;
    const due = Math.min(partial, this.silenceDeadline() ?? Infinity);
    return due === Infinity ? undefined : due;
  }

  private silenceDeadline(): number | undefined {
    if (this.state === 'awaiting-connect') return this.openedAt + this.broker.config.connectTimeout;
    if (this.state !== 'active' || this.keepalive === 0) return undefined;
    return this.lastActivity + this.keepalive * 1500 + this.broker.config.keepaliveGrace; // [MQTT-3.1.2-24]
  }

  /** Past its deadline: CONNECT too late, a packet unfinished too long, or keepalive [MQTT-3.1.2-24]. */
  overdue(now: number): void {
    if (this.state === 'awaiting-connect') {
      // CONNECT too late; one claiming its session is bounded by the claim's deadline instead
      if (!this.broker.sessions.claiming(this.id)) this.close('abnormal');
      return;
    }
    const slow = this.partialSince !== undefined && this.partialSince + this.broker.config.partialPacketTimeout <= now;
    this.disconnect(ReasonCode.KeepAliveTimeout, slow ? 'packet not completed in time' : 'keepalive timeout');
  }
}
