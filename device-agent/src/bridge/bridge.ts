// One bridge connection at run time: a TCP client of the board's broker, a WebSocket client of
// the edge, the topic map between them, the spool for messages bound for the edge, and the loop
// guard. Messages cross in both directions without coming back: No Local on MQTT 5 links, the
// guard on 3.x links. The board's broker is spoken to in MQTT 5 (Retain As Published keeps the
// retained flag) unless it only knows 3.1.1. A message whose topic maps to no valid topic is
// set aside, counted and logged, so that it cannot stop the ones behind it.
import { hostname } from 'node:os';
import { Backoff } from '../backoff.ts';
import { Client, type OutMessage } from '../client.ts';
import { validateTopicName, type ConnectPacket, type ProtocolVersion, type PublishPacket, type Subscription } from '../codec.ts';
import { parseEndpoint, parseHostPort, type TlsOptions } from '../endpoint.ts';
import type { Logger } from '../log.ts';
import { reason } from '../messages.ts';
import { Forwarder } from '../spool/forwarder.ts';
import type { Spool } from '../spool/spool.ts';
import type { BridgeConnection } from './config.ts';
import { LoopGuard, TopicMap } from './topic-map.ts';

const utf8 = new TextEncoder();

export class Bridge {
  readonly local: Client;
  readonly edge: Client;
  readonly map: TopicMap;
  readonly guard = new LoopGuard();
  private readonly forwarder: Forwarder;
  private readonly stateTopic: { local: string; remote: string };
  dropped = 0;
  setAside = 0;

  /** `stallMs`: the edge WebSocket is ended when nothing arrives on it that long (0: never). */
  constructor(readonly c: BridgeConnection, private readonly spool: Spool, tls: TlsOptions, private readonly log: Logger, stallMs = 0) {
    this.map = new TopicMap(c.topics);
    const remoteId = c.remoteClientId ?? `${hostname()}.${c.name}`;
    // The edge keeps $SYS for its own figures (and refuses a will there), so by default the edge's
    // copy goes to bridges/<id>/state; the board's broker gets mosquitto's usual $SYS topic.
    this.stateTopic = { local: c.notificationTopic ?? `$SYS/broker/connection/${remoteId}/state`, remote: c.notificationTopic ?? `bridges/${remoteId}/state` };
    const [first, ...alternates] = c.addresses.map(parseEndpoint);
    const backoff = () => new Backoff({ base: c.restartTimeout.base * 1000, cap: c.restartTimeout.cap * 1000 });
    this.edge = new Client({
      endpoint: first, alternates, tls, log: log.child('uplink'), reconnect: backoff(), stallMs,
      connect: this.connectPacket(c.protocolVersion, remoteId, c.cleanSession, c.remoteUsername, c.remotePassword, true),
      subscriptions: this.subscriptions('remote', c.protocolVersion),
    });
    const { host, port } = parseHostPort(c.localAddress, '127.0.0.1', 1883);
    this.local = new Client({
      endpoint: parseEndpoint(`mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`), log: log.child('board'), reconnect: backoff(),
      connect: this.connectPacket(5, c.localClientId ?? `local.${remoteId}`.slice(0, 65535), c.localCleanSession ?? c.cleanSession, c.localUsername, c.localPassword, false),
      subscriptions: this.subscriptions('local', 5), fallbackVersion: 4,
      heldQoS2: { restored: spool.heldIds(''), onPubrel: (id) => spool.free('', id) },
    });
    this.forwarder = new Forwarder(spool, this.edge, log.child('queue'));
    this.wire();
  }

  start(): void {
    this.local.start();
    this.edge.start();
  }

  stop(): void {
    if (this.c.notifications) void this.local.publish(this.notification('local', '0')).catch(() => {});
    this.edge.stop();
    setImmediate(() => this.local.stop());
  }

  private wire(): void {
    this.local.onConnect = () => this.log.info(`connected to the local broker ${this.local.opts.endpoint.display}`);
    this.local.onDisconnect = (why) => this.log.warn(`local broker connection lost: ${why}`);
    this.edge.onConnect = (connack) => {
      this.log.info(`connected to the edge ${this.edge.opts.endpoint.display} (session present: ${connack.sessionPresent})`);
      this.notify('1');
      this.forwarder.resume();
    };
    this.edge.onDisconnect = (why) => {
      this.log.warn(`edge connection lost: ${why}`);
      this.notify('0');
    };
    this.edge.onSuback = (codes) => codes.forEach((code, i) => code >= 0x80 && this.log.warn(`edge refused subscription ${this.edge.opts.subscriptions![i].topicFilter}: ${reason(code, 'suback')}`));
    this.local.onSuback = (codes) => {
      codes.forEach((code, i) => code >= 0x80 && this.log.warn(`local broker refused subscription ${this.local.opts.subscriptions![i].topicFilter}: ${reason(code, 'suback')}`));
      this.log.debug(`subscribed on the local broker (${codes.length} filter${codes.length === 1 ? '' : 's'})`);
    };
    this.local.onMessage = (p) => this.fromLocal(p);
    this.edge.onMessage = (p) => this.fromEdge(p);
    // Remembered as each copy goes on the wire: a side that was away a long time still echoes it.
    this.edge.onWire = (m) => this.expectEcho('remote', m.topic, m.payload);
    this.local.onWire = (m) => this.expectEcho('local', m.topic, m.payload);
  }

  /** Local -> edge. QoS 1/2 go through the spool; the local broker is acknowledged once it is stored. */
  private fromLocal(p: PublishPacket): Promise<unknown> | undefined {
    if (this.guard.isEcho('local', p.topic, p.payload)) return;
    const topic = this.translate('local', p.topic);
    if (topic === undefined) return;
    if (p.qos > 0) return this.spool.append({ topic, payload: p.payload, qos: p.qos, retain: p.retain }, p.qos === 2 ? { session: '', id: p.packetId! } : undefined);
    this.edge.publish({ topic, payload: p.payload, qos: 0, retain: p.retain }).catch(() => this.drop(topic, 'QoS 0 while the edge is away'));
  }

  /** Edge -> local. The edge is acknowledged once the local broker has the message. */
  private fromEdge(p: PublishPacket): Promise<unknown> | undefined {
    if (this.guard.isEcho('remote', p.topic, p.payload)) return;
    const topic = this.translate('remote', p.topic);
    if (topic === undefined) return;
    const sent = this.local.publish({ topic, payload: p.payload, qos: p.qos, retain: p.retain });
    if (p.qos > 0) return sent;
    sent.catch(() => this.drop(topic, 'QoS 0 while the local broker is away'));
  }

  /** The topic on the other side; undefined (and set aside) if the mapping gives no valid topic name. */
  private translate(from: 'local' | 'remote', topic: string): string | undefined {
    const to = this.map.translate(from, topic);
    if (to === undefined) return undefined;
    try {
      validateTopicName(to); // [MQTT-4.7.3-1] at least one character, no wildcards
      return to;
    } catch (err) {
      this.setAside++;
      this.log.warn(`set aside a message on ${topic}: it maps to ${JSON.stringify(to)}, ${(err as Error).message}; ${this.setAside} set aside so far`);
      return undefined;
    }
  }

  /** On a 3.x link our own publish comes back through our subscriptions: remember it. */
  private expectEcho(side: 'local' | 'remote', topic: string, payload: Uint8Array): void {
    const version = side === 'local' ? this.local.opts.connect.protocolVersion : this.edge.opts.connect.protocolVersion;
    if (version < 5 && this.map.echoes(side, topic)) this.guard.published(side, topic, payload);
  }

  private drop(topic: string, why: string): void {
    this.dropped++;
    this.log.debug(`dropped a message on ${topic}: ${why}`);
  }

  private notify(state: '0' | '1'): void {
    if (!this.c.notifications) return;
    this.local.publish(this.notification('local', state)).catch(() => {});
    if (state === '1' && !this.c.notificationsLocalOnly) this.edge.publish(this.notification('remote', state)).catch(() => {});
  }

  private notification(side: 'local' | 'remote', state: string): OutMessage {
    return { topic: this.stateTopic[side], payload: utf8.encode(state), qos: 1, retain: true };
  }

  private subscriptions(side: 'local' | 'remote', version: ProtocolVersion): Subscription[] {
    const subs = this.map.subscriptions(side);
    return version === 5 ? subs.map((s) => ({ ...s, noLocal: true, retainAsPublished: true })) : subs;
  }

  private connectPacket(version: ProtocolVersion, clientId: string, clean: boolean, username: string | undefined, password: string | undefined, edge: boolean): ConnectPacket {
    const p: ConnectPacket = { type: 'connect', protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clean, keepalive: this.c.keepalive, clientId };
    if (username !== undefined) p.username = username;
    if (password !== undefined) p.password = utf8.encode(password);
    if (version === 5) p.properties = { sessionExpiryInterval: clean ? 0 : 0xffffffff };
    if (edge && this.c.notifications && !this.c.notificationsLocalOnly) p.will = this.notification('remote', '0');
    return p;
  }
}
