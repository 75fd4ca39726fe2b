// One namespace's broker: the gateway, topic-shard and session roles in one place (the default
// topology), routing between them, and the single timer entry point `tick`. Given a Remote (the
// sharded topology), subscriptions, retained messages and routing belong to topic-shard objects
// and sessions that are away to session objects; $SYS stays with each object.
import { PublishTemplate, type ProtocolVersion } from '../protocol/index.ts';
import { defaultConfig, type BrokerConfig } from './config.ts';
import type { Connection } from './connection.ts';
import { HookChain, type ClientInfo, type DropReason, type Hooks } from './hooks.ts';
import type { Clock, Message, OutboundMessage, PublishSink, RetainedStore, SessionStore, StoredSubscription } from './ports.ts';
import { MqttError, ReasonCode } from '../protocol/index.ts';
import type { Remote, Routed, Subscribed } from './remote.ts';
import type { PackedAnswers } from './packed.ts';
import type { FlowSnapshots } from './clean-flows.ts';
import { Gateway } from './roles/gateway.ts';
import { recognisedWindow, SessionHost } from './roles/session-host.ts';
import { TopicShard, type Delivery } from './roles/topic-shard.ts';
import { isSys } from './topic-match.ts';
import { checkPlatformLimits } from './platform.ts';
import { retainedBudget } from './retained-budget.ts';
import { retainedQuota } from './retained-quota.ts';

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
  /** The other objects of a sharded topology; none in the default one. */
  remote?: Remote;
  /** Where the flows of clean sessions are copied so a hibernation keeps them; none: memory only. */
  flows?: FlowSnapshots;
  /** Takes a copy of what this object's topic shard accepts (rules); sharded gateways have none. */
  rules?: PublishSink;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /**
   * Runs `run` in a later turn of the object's event loop, after this turn's writes are stored
   * (a drain's next step, Session). Default: `setTimeout(run, 0)`; the edge also meters it.
   */
  defer?: (run: () => void) => void;
}

export class Broker {
  readonly config: BrokerConfig;
  readonly clock: Clock;
  readonly hooks: HookChain;
  readonly gateway: Gateway;
  readonly shard: TopicShard;
  readonly sessions: SessionHost;
  readonly log: NonNullable<BrokerOptions['log']>;
  readonly defer: NonNullable<BrokerOptions['defer']>;
  readonly remote?: Remote;
  readonly rules?: PublishSink;
  /** Messages not delivered, by reason (the observers carry them across restarts). */
  readonly stats = {
    dropped: { 'queue-full': 0, expired: 0, 'too-large': 0, 'not-authorized': 0, 'retained-limit': 0, 'retained-quota': 0 } satisfies Record<DropReason, number>,
    /** Subscriptions refused because the routing index was full (SUBACK 0x97). */
    refused: { subscriptions: 0 },
  };
  /** Earliest deadline created since the transport last asked (see takeDue). */
  private dueAt?: number;
  /** A flush is queued (flushSoon). */
  private flushing = false;
  /** PUBLISH bytes encoded once per message variant and receiver shape. */
  private readonly templates = new WeakMap<Message, Shape[]>();

  constructor(options: BrokerOptions) {
    this.config = { ...defaultConfig, ...options.config };
    checkPlatformLimits(this.config);
    this.clock = options.clock ?? { now: () => Date.now() };
    this.hooks = new HookChain(options.hooks);
    this.log = options.log ?? ((level, message) => console[level](message));
    this.defer = options.defer ?? ((run) => void setTimeout(run, 0));
    this.remote = options.remote;
    if (this.remote) this.remote.shards.answered = (messages, answers) => this.answered(messages, answers);
    if (this.remote && this.config.receiveMaximum > recognisedWindow) {
      // a session recognises a publisher's copies sent again among its last recognisedWindow ids
      throw new MqttError(ReasonCode.ImplementationSpecificError, `receiveMaximum (MQTT_RECEIVE_MAXIMUM) ${this.config.receiveMaximum} is over`
        + ` ${recognisedWindow} in the sharded topology: a publisher could have more QoS 2 messages unacknowledged than a session`
        + ' keeps ids of to deliver each once across a restart (docs/ARCHITECTURE.md, "Exactly once across a kill")');
    }
    this.rules = options.rules;
    this.gateway = new Gateway(this);
    // sharded, only $SYS routes here: the rest of what is stored is routed by the shards
    const routed = filter(options.sessions.allSubscriptions(), ([, s]) => this.local(s.topicFilter));
    this.shard = new TopicShard(options.retained, routed, retainedQuota(this.config), this.config.maxSubscriptions);
    this.sessions = new SessionHost(this, options.sessions, options.flows);
  }

  /**
   * Call once the transport's surviving connections are open again (after restart or wake).
   * `live` says which connection ids still hold their sessions (default: this object's).
   */
  start(live = (id: string) => this.gateway.connections.has(id)): void {
    this.sessions.reconcile(live);
  }

  /** Whether this object routes a topic or filter itself: every one in the default topology, $SYS always. */
  local(topicOrFilter: string): boolean {
    return !this.remote || isSys(topicOrFilter);
  }

  /**
   * Stores and registers a client's subscriptions; resolves, per subscription, with the retained
   * messages to send for it when `retained` asks (expired ones are dropped).
   */
  subscribe(clientId: string, subscriptions: StoredSubscription[], retained: boolean[]): Subscribed | Promise<Subscribed> {
    const found: Subscribed = subscriptions.map(() => []);
    const elsewhere: number[] = [];
    const budget = retainedBudget(this.config);
    subscriptions.forEach((sub, i) => {
      if (!this.local(sub.topicFilter)) {
        this.sessions.store.putSubscription(clientId, sub);
        return void elsewhere.push(i);
      }
      if (!this.shard.add(clientId, sub)) return void (found[i] = this.refuseSubscription(clientId, sub.topicFilter));
      this.sessions.store.putSubscription(clientId, sub);
      if (retained[i]) found[i] = this.shard.retainedMatching(sub.topicFilter, this.clock.now(), budget);
    });
    for (let i = 0; i < budget.skipped; i++) this.dropped(clientId, 'retained-limit');
    if (!elsewhere.length) return found;
    const asked = this.remote!.shards.subscribe(clientId, elsewhere.map((i) => subscriptions[i]), elsewhere.map((i) => retained[i]));
    return asked.then((messages) => {
      elsewhere.forEach((i, k) => (found[i] = messages[k] ?? this.refuseSubscription(clientId, subscriptions[i].topicFilter)));
      return found;
    });
  }

  /** A subscription the routing index had no room for (MQTT_MAX_SUBSCRIPTIONS): not kept, and counted. */
  private refuseSubscription(clientId: string, topicFilter: string): null {
    this.sessions.store.deleteSubscription(clientId, topicFilter);
    this.stats.refused.subscriptions++;
    return null;
  }

  /** Removes subscriptions; resolves with which existed, once no shard routes by them. */
  unsubscribe(clientId: string, topicFilters: string[]): boolean[] | Promise<boolean[]> {
    const existed = topicFilters.map((f) => this.sessions.store.deleteSubscription(clientId, f));
    const gone = this.forget(clientId, topicFilters.filter((_, i) => existed[i]));
    return gone ? gone.then(() => existed) : existed;
  }

  /** Takes subscriptions out of routing (the store is the caller's business). */
  forget(clientId: string, topicFilters: string[]): Promise<void> | undefined {
    const elsewhere = topicFilters.filter((f) => !this.local(f));
    for (const f of topicFilters) if (this.local(f)) this.shard.remove(clientId, f);
    return elsewhere.length ? this.remote!.shards.unsubscribe(clientId, elsewhere) : undefined;
  }

  /**
   * Routes a message to every matching session; returns how many it reached. With a Remote the
   * owning shard routes it, and the promise resolves once that shard accepted it. A `refusable`
   * QoS 1/2 message that a rule's full outbox refuses throws (rejects) MqttError 0x97, routed nowhere.
   */
  publish(message: Message, from?: ClientInfo, refusable = false): number | Promise<number> {
    if (this.rules && this.local(message.topic)) {
      const refused = this.rules.accept(message, from && { clientId: from.clientId, username: from.principal?.username }, refusable);
      if (refused !== undefined) throw new MqttError(refused, 'a rule\'s outbox is full');
    }
    this.published(message, from);
    if (!this.local(message.topic)) {
      // what the shard's answer brings for sessions here is taken by `answered`, before this resolves
      return this.remote!.shards.publish(refusable ? { ...message, refusable } : message).then(({ reached, refused }) => {
        if (refused !== undefined) throw new MqttError(refused, 'a rule\'s outbox is full');
        return reached;
      });
    }
    if (message.retain && !this.shard.retain(message)) this.dropped(from?.clientId ?? '', 'retained-quota');
    const deliveries = this.shard.route(message, (id) => this.gateway.byClientId.has(id));
    this.deliverEach(message, deliveries);
    return deliveries.length;
  }

  /**
   * `publish` for a client's QoS 0 message, whose count reached nobody reads: sharded, it rides the
   * next call to its shard with no promise of its own (a lost call is logged by the Remote).
   */
  post(message: Message, from?: ClientInfo): void {
    if (!this.remote || this.local(message.topic) || message.qos > 0) {
      const routed = this.publish(message, from);
      if (typeof routed !== 'number') routed.catch((err: unknown) => this.log('warn', `QoS ${message.qos} message on ${message.topic} lost: ${String(err)}`));
      return;
    }
    this.published(message, from);
    this.remote.shards.post(message);
  }

  /** Tells the hooks of a message accepted for routing. */
  private published(message: Message, from: ClientInfo | undefined): void {
    if (!this.hooks.has('onPublish')) return;
    this.hooks.emit('onPublish', from, {
      type: 'publish', topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain, dup: false,
      properties: message.properties,
    });
  }

  /**
   * Sharded: a shard answered a call of publishes. Its deliveries for sessions here (they ride the
   * answer) are received, in order, as one batch; a message the shard could not retain is counted.
   */
  private answered(messages: Message[], { head, stamps, lists }: PackedAnswers): Promise<void> | undefined {
    const here: Routed[] = [];
    for (let i = 0; i < messages.length; i++) {
      if (head[i * 4 + 3]) this.dropped(messages[i].publisher ?? '', 'retained-quota');
      const list = head[i * 4 + 1];
      if (!list) continue;
      const message = messages[i].refusable ? withoutRefusable(messages[i]) : messages[i];
      here.push({ message: Number.isNaN(stamps[i]) ? message : { ...message, stamp: stamps[i] }, deliveries: lists[list - 1] });
    }
    if (!here.length) return undefined;
    const received = this.receive(here, 0);
    this.flushSoon(); // the event that published may have ended: nobody else sends these
    return received;
  }

  /**
   * Hands routed messages to the sessions they are for: live ones get them now, and sessions that
   * are away here queue QoS 1/2. Returns what is for sessions this object does not hold (a gateway
   * in the sharded topology: the client left or moved meanwhile), QoS 1/2 only.
   */
  deliverRouted(batch: Routed[]): Routed[] {
    const missed: Routed[] = [];
    this.sessions.batched(() => {
      for (const { message, deliveries } of batch) {
        const away = this.deliverEach(message, deliveries);
        if (away) missed.push({ message, deliveries: away });
      }
    });
    return missed;
  }

  /** One message to its sessions; returns the deliveries this object does not hold, if any. */
  private deliverEach(message: Message, deliveries: Delivery[]): Delivery[] | undefined {
    const variants = new Map<string, Message>();
    let away: Delivery[] | undefined;
    for (const d of deliveries) if (!this.deliver(d, message, variants)) (away ??= []).push(d);
    return away;
  }

  /**
   * Sharded gateway: messages routed to its sessions, on a publish's answer (`way` 0) or in a
   * deliver call (1). Clients arriving here get them once their session is here; those gone, through
   * their session objects.
   */
  async receive(batch: Routed[], way: 0 | 1 = 1): Promise<void> {
    // a run of one topic's messages to the same sessions is noted once, with its highest stamp
    let highest = -Infinity;
    for (let i = 0; i < batch.length; i++) {
      const { message, deliveries } = batch[i];
      if (message.stamp === undefined) continue;
      highest = Math.max(highest, message.stamp);
      const next = batch[i + 1];
      if (next?.message.topic === message.topic && next.deliveries === deliveries && next.message.stamp !== undefined) continue;
      this.saw(message.topic, deliveries, way, highest);
      highest = -Infinity;
    }
    const missed: Routed[] = [];
    for (const { message, deliveries } of this.deliverRouted(batch)) {
      // clients arriving here get theirs once their session is here; the rest go to their session
      // objects, named by the connection they left (its session object keeps them for that copy)
      for (const d of deliveries) {
        if (this.sessions.keepFor(d.clientId, { message, deliveries: [d] })) continue;
        const left = d.connectionId ?? this.sessions.store.get(d.clientId)?.connectionId;
        missed.push({ message, deliveries: [left === undefined ? d : { ...d, connectionId: left }] });
      }
    }
    if (missed.length) await this.remote!.sessions!.forward(missed);
  }

  /** Notes what a shard routed here, per client: a leaving session waits for all of it (SessionHost.settle). */
  private saw(topic: string, deliveries: Delivery[], way: 0 | 1, stamp: number): void {
    const shard = this.remote!.shards.shardOf(topic);
    // a session object's (it names the connection) came another way, in no order with these
    for (const { clientId, connectionId } of deliveries) if (connectionId === undefined) this.sessions.saw(clientId, shard, way, stamp);
  }

  /** False when the session is neither live nor held here and the message is QoS 1/2. */
  private deliver(d: Delivery, message: Message, variants: Map<string, Message>): boolean {
    const conn = this.gateway.byClientId.get(d.clientId);
    // a session that is away is checked when its queue is sent, as the principal it returns with
    if (conn && this.hooks.has('authorizeDeliver') && this.hooks.check('authorizeDeliver', conn.client, message.topic) !== undefined) {
      this.dropped(d.clientId, 'not-authorized');
      return true;
    }
    const qos = Math.min(message.qos, d.qos) as Message['qos']; // [MQTT-3.8.4-8]
    const retain = d.retainAsPublished && message.retain; // [MQTT-3.3.1-12, -13]
    const key = `${qos}${retain}`;
    let out = variants.get(key);
    if (!out) variants.set(key, (out = { ...message, qos, retain }));
    if (conn?.state === 'active') {
      if (!this.sessions.recognise(d.clientId, out, d.share)) conn.deliver(out, d.identifiers);
    } else if (qos > 0) {
      // a gateway queues only for a session still here on its way out; the rest is elsewhere
      if (this.remote?.sessions && !this.sessions.holds(d.clientId)) return false;
      if (!this.sessions.recognise(d.clientId, out, d.share)) this.sessions.enqueue(d.clientId, out, d.identifiers);
    }
    return true;
  }

  /** Retained messages for a new subscription, flagged retained [MQTT-3.3.1-8]. */
  sendRetained(conn: Connection, sub: StoredSubscription, messages: Message[]): void {
    for (const message of messages) {
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

  /**
   * Sends once the microtasks queued now have run: the messages of one shard's answer, whose
   * callbacks run one after another, leave in one WebSocket message per connection, not one each.
   */
  private flushSoon(): void {
    if (this.flushing) return;
    this.flushing = true;
    void Promise.resolve().then(() => { // a microtask, without queueMicrotask's call into the runtime
      this.flushing = false;
      this.gateway.flush();
    });
  }
}


/** A message as delivered: `refusable` is for its shard only. */
function withoutRefusable({ refusable: _r, ...message }: Message): Message {
  return message;
}

function* filter<T>(items: Iterable<T>, keep: (item: T) => boolean): Generator<T> {
  for (const item of items) if (keep(item)) yield item;
}
