// Buffered tunnel: the agent is the device's broker endpoint. It answers CONNECT itself when the
// edge is away, takes QoS 1/2 publishes into the spool before acknowledging them (the shared
// Forwarder carries them to the edge), answers PINGREQ, and relays everything else over the
// device's own uplink (subscriptions, QoS 0, deliveries and their acks, the will).
import type { Socket } from 'node:net';
import { Backoff } from '../backoff.ts';
import { ack, connack, ReasonCode, type ConnackPacket, type ConnectPacket, type Packet, type PublishPacket, type Subscription } from '../codec.ts';
import { Connection } from '../connection.ts';
import { publishSize } from '../frame.ts';
import { injectCredentials } from '../credentials.ts';
import { wrapSocket } from '../link.ts';
import { clientLabel, reason } from '../messages.ts';
import type { Spool } from '../spool/spool.ts';
import type { PipeOptions } from './pipe.ts';
import { Uplink } from './uplink.ts';

export interface BufferedOptions extends PipeOptions {
  spool: Spool;
  /** The edge's Maximum Packet Size, once the forwarding client has heard it. */
  edgeLimit: () => number | undefined;
  /** How long a CONNECT waits for the edge's CONNACK before the agent answers itself. */
  connackWaitMs: number;
  backoff: { base: number; cap: number };
}

/** Bytes queued toward the edge beyond which a device's QoS 0 publishes are dropped. */
const qos0Backlog = 1 << 20;

export class BufferedSession {
  private readonly device: Connection;
  private state: 'awaiting-connect' | 'connecting' | 'active' | 'closed' = 'awaiting-connect';
  private connect?: ConnectPacket;
  private uplink?: Uplink;
  private held: Packet[] = [];
  private readonly subs = new Map<string, Subscription>();
  /** QoS 2 ids whose PUBLISH is being stored: a resend waits for that, then gets its PUBREC. */
  private readonly storing = new Map<number, Promise<unknown>>();
  private readonly aliases = new Map<number, string>();
  private readonly agentIds = new Set<number>();
  private name: string;
  private keepaliveTimer?: ReturnType<typeof setInterval>;
  private deviceKeepalive = 0;

  constructor(socket: Socket, private readonly opts: BufferedOptions, private readonly onEnd: () => void) {
    this.name = `${socket.remoteAddress}:${socket.remotePort}`;
    this.device = new Connection(wrapSocket(socket), 4);
    this.device.onPacket = (p) => this.fromDevice(p);
    this.device.onClose = (why) => this.deviceGone(why === 'closed' ? 'device closed the connection' : `device ${why}`, false);
  }

  private fromDevice(p: Packet): void {
    if (this.state === 'awaiting-connect') {
      if (p.type !== 'connect') return this.device.destroy('first packet is not CONNECT'); // [MQTT-3.1.0-1]
      return this.start(p);
    }
    if (this.state === 'connecting') return void this.held.push(p);
    if (this.state === 'active') this.handle(p);
  }

  private start(p: ConnectPacket): void {
    this.state = 'connecting';
    this.device.version = p.protocolVersion;
    this.name = clientLabel(p.clientId, this.name);
    // the device's keepalive is watched here; the edge's is --edge-keepalive when given
    this.deviceKeepalive = p.keepalive;
    this.connect = { ...injectCredentials(p, this.opts.credentials), keepalive: this.opts.edgeKeepalive ?? p.keepalive };
    // A clean session starts without the QoS 2 ids an earlier one held [MQTT-3.1.2-6].
    if (p.clean) void this.opts.spool.endSession(p.clientId).catch(() => {});
    const log = this.opts.log.child(this.name);
    this.uplink = new Uplink(this.connect, { ...this.opts, log, backoff: new Backoff(this.opts.backoff) });
    const wait = setTimeout(() => this.accept(connack(0), 'the edge is away: accepted locally', true), this.opts.connackWaitMs);
    this.uplink.onUp = (c, first) => {
      clearTimeout(wait);
      if (first && this.state === 'connecting') this.accept(c, 'connected to the edge');
      else this.resumed(c);
    };
    this.uplink.onRefused = (c, why) => {
      clearTimeout(wait);
      this.opts.log.warn(`${this.name}: ${why}`);
      if (this.state === 'connecting' && c) this.device.send(c);
      this.close();
    };
    this.uplink.onUnreachable = () => {
      clearTimeout(wait);
      this.accept(connack(0), 'the edge is away: accepted locally', true);
    };
    this.uplink.onPacket = (q) => this.fromEdge(q);
    this.uplink.start();
  }

  /** CONNACK to the device (the edge's, or the agent's own when `local`), then what it sent meanwhile. */
  private accept(c: ConnackPacket, why: string, local = false): void {
    if (this.state !== 'connecting') return;
    this.state = 'active';
    this.opts.log.info(`${this.name}: ${why}`);
    const reply: ConnackPacket = { ...c };
    const connect = this.connect!;
    if (connect.protocolVersion === 5 && connect.clientId === '' && !c.properties?.assignedClientIdentifier) {
      connect.clientId = `agent-${Math.random().toString(36).slice(2, 12)}`;
      reply.properties = { ...c.properties, assignedClientIdentifier: connect.clientId };
    }
    // the edge's Server Keep Alive answers --edge-keepalive, not the device's own [MQTT-3.2.2-21]
    if (this.opts.edgeKeepalive !== undefined && reply.properties?.serverKeepAlive !== undefined) reply.properties = { ...reply.properties, serverKeepAlive: undefined };
    // The agent is the receiver of the device's QoS 2 publishes: their ids are session state it keeps.
    const holds = this.opts.spool.heldCountOf(connect.clientId) > 0;
    if (local && !connect.clean && holds) reply.sessionPresent = true;
    // A device told its session is gone discards its ids and may reuse them for new messages [MQTT-3.2.2-4].
    if (!reply.sessionPresent && connect.protocolVersion > 3 && holds) void this.opts.spool.endSession(connect.clientId).catch(() => {});
    this.device.send(reply);
    this.watchKeepalive(this.deviceKeepalive);
    for (const p of this.held.splice(0)) this.handle(p);
  }

  /** The edge is back for a device already connected: restore its subscriptions if the session is new. */
  private resumed(c: ConnackPacket): void {
    if (this.state === 'connecting') return this.accept(c, 'connected to the edge');
    this.opts.log.info(`${this.name}: edge back (session present: ${c.sessionPresent})`);
    if (c.sessionPresent || this.subs.size === 0) return;
    const packetId = 65535 - (this.agentIds.size % 1000);
    this.agentIds.add(packetId);
    this.uplink?.conn?.send({ type: 'subscribe', packetId, subscriptions: [...this.subs.values()] });
  }

  private handle(p: Packet): void {
    const edge = this.uplink?.conn;
    switch (p.type) {
      case 'publish':
        return this.publish(p);
      case 'pubrel':
        return this.pubrel(p.packetId);
      case 'pingreq':
        return this.device.send({ type: 'pingresp' });
      case 'subscribe':
        for (const s of p.subscriptions) this.subs.set(s.topicFilter, s);
        if (edge) return edge.send(p);
        return this.device.send({ type: 'suback', packetId: p.packetId, reasonCodes: p.subscriptions.map((s) => s.qos) });
      case 'unsubscribe':
        for (const f of p.topicFilters) this.subs.delete(f);
        if (edge) return edge.send(p);
        return this.device.send({ type: 'unsuback', packetId: p.packetId, ...(this.device.version === 5 ? { reasonCodes: p.topicFilters.map(() => 0) } : {}) });
      case 'disconnect':
        return this.deviceGone('device sent DISCONNECT', true, p);
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
      case 'auth':
        return edge?.send(p); // acks for the edge's deliveries; lost with the edge, which then resends
      default:
        return this.device.destroy(`unexpected ${p.type} from the device`);
    }
  }

  /** QoS 0 goes straight to the edge (or is dropped while it is away); QoS 1/2 into the spool first. */
  private publish(p: PublishPacket): void {
    const topic = this.resolveAlias(p);
    if (topic === undefined) return this.device.destroy('unknown topic alias'); // [MQTT-3.3.4-7]
    const msg = { topic, payload: p.payload, qos: p.qos, retain: p.retain };
    if (p.qos === 0) {
      const edge = this.uplink?.conn;
      // QoS 0 may be dropped [MQTT-4.3.1]: not held in memory behind a slow or stalled edge.
      if (edge && edge.link.bufferedAmount <= qos0Backlog) edge.send({ type: 'publish', ...msg, dup: false, ...(p.properties ? { properties: stripAlias(p.properties) } : {}) });
      return;
    }
    const id = p.packetId!;
    const session = this.connect!.clientId;
    if (p.qos === 2 && this.storing.has(id)) return void this.storing.get(id)!.then(() => this.device.send(ack('pubrec', id)), () => {});
    // A resend (DUP or not: MQTT.js resends with DUP 0) of an id stored and not yet released [MQTT-4.3.3-2].
    if (p.qos === 2 && this.opts.spool.isHeld(session, id)) return this.device.send(ack('pubrec', id));
    const limit = this.opts.edgeLimit();
    const size = publishSize(topic, p.payload, 5);
    // Refused before it is acknowledged, as a broker refuses it: the edge would never take it.
    if (limit && size > limit) return this.refuse(ReasonCode.PacketTooLarge, `a ${size}-byte message on ${topic}: the edge takes at most ${limit} bytes`);
    const stored = this.opts.spool.append(msg, p.qos === 2 ? { session, id } : undefined);
    if (p.qos === 2) this.storing.set(id, stored);
    stored.finally(() => this.storing.get(id) === stored && this.storing.delete(id)).then(
      (kept) => {
        this.device.send(ack(p.qos === 1 ? 'puback' : 'pubrec', id, kept || this.device.version < 5 ? 0 : ReasonCode.QuotaExceeded));
      },
      (err: Error) => {
        // Not stored, so not acknowledged: MQTT 5 hears why, 3.x devices send it again after reconnecting.
        if (this.device.version === 5) return this.device.send(ack(p.qos === 1 ? 'puback' : 'pubrec', id, ReasonCode.UnspecifiedError));
        this.refuse(undefined, `message on ${topic} not stored: ${err.message}`);
      },
    );
  }

  /** PUBCOMP once the release is stored: after a restart the id must not swallow a new message. */
  private pubrel(id: number): void {
    this.opts.spool.free(this.connect!.clientId, id).then(
      () => this.device.send(ack('pubcomp', id)),
      (err: Error) => this.refuse(undefined, `PUBREL ${id} not stored: ${err.message}`), // it comes again after a reconnect
    );
  }

  /** Closes the device's connection (MQTT 5: DISCONNECT with `reasonCode` first) without acknowledging. */
  private refuse(reasonCode: number | undefined, why: string): void {
    this.opts.log.warn(`${this.name}: refused ${why}`);
    if (reasonCode !== undefined && this.device.version === 5) this.device.send({ type: 'disconnect', reasonCode });
    this.deviceGone(`closed: ${why}`, false);
  }

  private resolveAlias(p: PublishPacket): string | undefined {
    const alias = p.properties?.topicAlias;
    if (alias === undefined) return p.topic;
    if (p.topic !== '') this.aliases.set(alias, p.topic);
    return this.aliases.get(alias);
  }

  private fromEdge(p: Packet): void {
    if (this.state !== 'active') return;
    if (p.type === 'pingresp') return;
    if ((p.type === 'suback' || p.type === 'unsuback') && this.agentIds.delete(p.packetId)) return;
    if (p.type === 'disconnect') {
      this.opts.log.warn(`${this.name}: the edge sent DISCONNECT ${reason(p.reasonCode ?? 0, 'disconnect')}`);
      this.device.send(p);
      return this.close();
    }
    this.device.send(p);
  }

  /** 1.5 times the keepalive without a packet: the device is gone [MQTT-3.1.2-24]. */
  private watchKeepalive(seconds: number): void {
    if (seconds === 0) return;
    this.keepaliveTimer = setInterval(() => {
      if (Date.now() - this.device.lastReceived > seconds * 1500) this.device.destroy('keepalive timeout');
    }, 1000);
  }

  /** The device left. Without DISCONNECT the edge must publish the will; if the edge is away, the spool keeps it. */
  private deviceGone(why: string, polite: boolean, disconnect?: Packet): void {
    if (this.state === 'closed') return;
    const will = this.connect?.will;
    if (!polite && will && will.qos > 0 && this.state === 'active' && !this.uplink?.conn) {
      this.opts.spool.append({ topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain }).then(
        () => this.opts.log.info(`${this.name}: will queued for the edge`),
        (err: Error) => this.opts.log.error(`${this.name}: will lost, the spool cannot store: ${err.message}`),
      );
    }
    this.opts.log.info(`${this.name}: ${why}`);
    this.uplink?.stop(polite ? disconnect : undefined);
    this.close();
  }

  /** A clean session (3.x), or an MQTT 5 one with Session Expiry Interval 0, ends with its connection [MQTT-3.1.2-23]. */
  private endUnlessPersistent(): void {
    const c = this.connect;
    if (!c || this.state === 'awaiting-connect') return;
    const persistent = c.protocolVersion === 5 ? (c.properties?.sessionExpiryInterval ?? 0) > 0 : !c.clean;
    if (!persistent) void this.opts.spool.endSession(c.clientId).catch(() => {});
  }

  private close(): void {
    if (this.state === 'closed') return;
    this.endUnlessPersistent();
    this.state = 'closed';
    clearInterval(this.keepaliveTimer);
    this.uplink?.stop();
    this.device.close();
    this.onEnd();
  }
}

function stripAlias(props: NonNullable<PublishPacket['properties']>): PublishPacket['properties'] {
  const { topicAlias: _alias, ...rest } = props;
  return rest;
}
