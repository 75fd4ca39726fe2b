// One namespace's broker: the gateway, topic-shard and session roles in one place (the default
// topology), routing between them, and the single timer entry point `tick`.
import { PublishTemplate, type ProtocolVersion } from '../protocol/index.ts';
import { defaultConfig, type BrokerConfig } from './config.ts';
import type { Connection } from './connection.ts';
import { HookChain, type ClientInfo, type DropReason, type Hooks } from './hooks.ts';
import type { Clock, Message, OutboundMessage, RetainedStore, SessionStore, StoredSubscription } from './ports.ts';
import { Gateway } from './roles/gateway.ts';
import { SessionHost } from './roles/session-host.ts';
import { TopicShard, type Delivery } from './roles/topic-shard.ts';

/** The PUBLISH bytes of a message for receivers of one protocol version, identifiers and expiry. */
interface Shape {
  version: ProtocolVersion;
  expiry: number | undefined;
  ids: number[] | undefined;
  template: PublishTemplate;
}

const sameIds = (a: number[] | undefined, b: number[] | undefined): boolean =>
  (a?.length ?? 0) === (b?.length ?? 0) && (!a || a.every((id, i) => id === b![i]));

export interface BrokerOptions {
  sessions: SessionStore;
  retained: RetainedStore;
  clock?: Clock;
  config?: Partial<BrokerConfig>;
  hooks?: Partial<Hooks>[];
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export class Broker {
  readonly config: BrokerConfig;
  readonly clock: Clock;
  readonly hooks: HookChain;
  readonly gateway: Gateway;
  readonly shard: TopicShard;
  readonly sessions: SessionHost;
  readonly log: NonNullable<BrokerOptions['log']>;
  /** Messages not delivered, by reason (the observers carry them across restarts). */
  readonly stats = { dropped: { 'queue-full': 0, expired: 0, 'too-large': 0, 'not-authorized': 0 } satisfies Record<DropReason, number> };
  /** Earliest deadline created since the transport last asked (see takeDue). */
  private dueAt?: number;
  /** PUBLISH bytes encoded once per message variant and receiver shape. */
  private readonly templates = new WeakMap<Message, Shape[]>();

  constructor(options: BrokerOptions) {
    this.config = { ...defaultConfig, ...options.config };
    this.clock = options.clock ?? { now: () => Date.now() };
    this.hooks = new HookChain(options.hooks);
    this.log = options.log ?? ((level, message) => console[level](message));
    this.gateway = new Gateway(this);
    this.shard = new TopicShard(options.retained, options.sessions.allSubscriptions());
    this.sessions = new SessionHost(this, options.sessions);
  }

  /** Call once the transport's surviving connections are open again (after restart or wake). */
  start(): void {
    this.sessions.reconcile((id) => this.gateway.connections.has(id));
  }

  subscribe(clientId: string, subscription: StoredSubscription): void {
    this.sessions.store.putSubscription(clientId, subscription);
    this.shard.add(clientId, subscription);
  }

  unsubscribe(clientId: string, topicFilter: string): boolean {
    const existed = this.sessions.store.deleteSubscription(clientId, topicFilter);
    if (existed) this.shard.remove(clientId, topicFilter);
    return existed;
  }

  /** Routes a message to every matching session; returns how many it reached. */
  publish(message: Message, from?: ClientInfo): number {
    if (this.hooks.has('onPublish')) {
      this.hooks.emit('onPublish', from, {
        type: 'publish', topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain, dup: false,
        properties: message.properties,
      });
    }
    if (message.retain) this.retain(message);
    const deliveries = this.shard.route(message, (id) => this.gateway.byClientId.has(id));
    const variants = new Map<string, Message>();
    for (const d of deliveries) this.deliver(d, message, variants);
    return deliveries.length;
  }

  /** [MQTT-3.3.1-5..7] a retained message replaces the last; an empty payload clears it. */
  private retain(message: Message): void {
    if (message.payload.length === 0) this.shard.retained.delete(message.topic);
    else this.shard.retained.set({ ...message, publisher: undefined });
  }

  private deliver(d: Delivery, message: Message, variants: Map<string, Message>): void {
    const conn = this.gateway.byClientId.get(d.clientId);
    // a session that is away is checked when its queue is sent, as the principal it returns with
    if (conn && this.hooks.has('authorizeDeliver') && this.hooks.check('authorizeDeliver', conn.client, message.topic) !== undefined) {
      return this.dropped(d.clientId, 'not-authorized');
    }
    const qos = Math.min(message.qos, d.qos) as Message['qos']; // [MQTT-3.8.4-8]
    const retain = d.retainAsPublished && message.retain; // [MQTT-3.3.1-12, -13]
    const key = `${qos}${retain}`;
    let out = variants.get(key);
    if (!out) variants.set(key, (out = { ...message, qos, retain }));
    if (conn?.state === 'active') conn.deliver(out, d.identifiers);
    else if (qos > 0) this.sessions.enqueue(d.clientId, out, d.identifiers);
  }

  /** Retained messages for a new subscription, flagged retained [MQTT-3.3.1-8]. */
  sendRetained(conn: Connection, sub: StoredSubscription): void {
    const now = this.clock.now();
    for (const message of this.shard.retained.match(sub.topicFilter)) {
      if (message.expiresAt !== undefined && message.expiresAt <= now) {
        this.shard.retained.delete(message.topic);
        continue;
      }
      if (this.hooks.check('authorizeDeliver', conn.client, message.topic) !== undefined) {
        this.dropped(conn.clientId, 'not-authorized');
        continue;
      }
      const qos = Math.min(message.qos, sub.qos) as Message['qos'];
      conn.deliver({ ...message, qos, retain: true }, sub.identifier ? [sub.identifier] : []);
    }
  }

  /** The PUBLISH bytes for one receiver shape, built once per message. */
  template(entry: OutboundMessage, version: ProtocolVersion, now: number): PublishTemplate {
    const { message, subscriptionIdentifiers: ids } = entry;
    const expiry = message.expiresAt === undefined ? undefined : Math.max(1, Math.ceil((message.expiresAt - now) / 1000));
    // a message has one or two shapes, so a scan beats building a key
    let shapes = this.templates.get(message);
    const found = shapes?.find((s) => s.version === version && s.expiry === expiry && sameIds(s.ids, ids));
    if (found) return found.template;
    const properties = version === 5 ? { ...message.properties } : undefined;
    if (properties && expiry !== undefined) properties.messageExpiryInterval = expiry; // [MQTT-3.3.2-6]
    if (properties && ids?.length) properties.subscriptionIdentifiers = ids;
    const packet = {
      type: 'publish' as const, topic: message.topic, payload: message.payload, qos: message.qos,
      retain: message.retain, dup: false, packetId: message.qos ? 1 : undefined,
      properties: properties && Object.keys(properties).length ? properties : undefined,
    };
    const template = new PublishTemplate(packet, version);
    if (!shapes) this.templates.set(message, (shapes = []));
    shapes.push({ version, expiry, ids, template });
    return template;
  }

  /** A message that did not reach a session: counted, and told to the hooks. */
  dropped(clientId: string, reason: DropReason): void {
    this.stats.dropped[reason]++;
    this.hooks.emit('onDrop', clientId, reason);
  }

  /** Records that something will be due at `at` (ms): a connect timeout, keepalive, will, expiry. */
  due(at: number): void {
    if (this.dueAt === undefined || at < this.dueAt) this.dueAt = at;
  }

  /** The earliest deadline recorded since the last call, for the transport's one timer. */
  takeDue(): number | undefined {
    const at = this.dueAt;
    this.dueAt = undefined;
    return at;
  }

  /** Runs everything due by now; returns when to be called next (ms), if ever. */
  tick(): number | undefined {
    const now = this.clock.now();
    const a = this.gateway.sweep(now);
    const b = this.sessions.sweep(now);
    this.gateway.flush();
    if (a === undefined) return b;
    return b === undefined ? a : Math.min(a, b);
  }

  /** Sends what the current event produced. */
  flush(): void {
    this.gateway.flush();
  }
}
