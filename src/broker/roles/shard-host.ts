// A topic-shard object's role in the sharded topology: its slice's subscriptions and retained
// messages, and where each subscriber is (a gateway, or its session object while away). A batch
// of publishes is routed into one batch per target, so a gateway with many matching subscribers
// gets one call, not one per subscriber.
import type { Clock, Message, PublishSink, RetainedStore, SessionStore, StoredSubscription } from '../ports.ts';
import type { Routed, Subscribed } from '../remote.ts';
import type { Delivery } from './topic-shard.ts';
import { pushTo } from '../multimap.ts';
import { TopicShard } from './topic-shard.ts';
import { defaultConfig, type BrokerConfig } from '../config.ts';
import { retainedBudget } from '../retained-budget.ts';
import { retainedQuota } from '../retained-quota.ts';

/** Where a subscriber is: the index of its gateway, or 'away' (its session object holds it). */
export type Location = number | 'away';

export interface LocationStore {
  all(): Array<[clientId: string, where: Location]>;
  set(clientId: string, where: Location): void;
  delete(clientId: string): void;
}

/** Stamps of the last messages routed to a client on a gateway: [on publish answers, in deliver calls]; 0: none. */
export type Routes = [answers: number, calls: number];

/** `gateway:<i>` or `session:<i>`: one call each. */
export type Target = `gateway:${number}` | `session:${number}`;

/** Where one message goes, as ShardHost.publish reuses it for the messages that go the same way. */
interface Way {
  /** Undefined for a way that is the message's own (a shared group's turn). */
  topic: string | undefined;
  /** No Local leaves the publisher out [MQTT-3.8.3-3]. */
  publisher: string | undefined;
  /** The message's QoS: a session away gets QoS 1/2 only. */
  qos: number;
  /** Sessions matched. */
  reached: number;
  targets: Array<[Target, Delivery[]]>;
  /** Subscribers on gateways, and which. */
  live: Array<[clientId: string, gateway: number]>;
}

export class ShardHost {
  private readonly shard: TopicShard;
  private readonly subscriptions: SessionStore;
  private readonly locations: LocationStore;
  private readonly where = new Map<string, Location>();
  private readonly clock: Clock;
  /** The session object of a client id. */
  private readonly sessionObjectOf: (clientId: string) => number;
  private readonly config: BrokerConfig;
  private readonly rules?: PublishSink;
  /** The last stamp given (Message.stamp). */
  private stamped = 0;
  /**
   * Per subscriber on a gateway: the stamps of the last messages routed to it there, on each way
   * they travel: [on a publish's answer to that gateway, in a deliver call]. Each way keeps its order.
   */
  private readonly lastRouted = new Map<string, Routes>();

  constructor(options: {
    retained: RetainedStore; subscriptions: SessionStore; locations: LocationStore; clock: Clock;
    sessionObjectOf: (clientId: string) => number;
    /** Limits the retained messages one subscribe call returns (every shard keeps its own). */
    config?: Partial<BrokerConfig>;
    /** Topic shards of the namespace: each keeps 1/shards of the retained quota. */
    shards?: number;
    /** Rules whose outboxes take a copy of what this shard accepts. */
    rules?: PublishSink;
  }) {
    this.rules = options.rules;
    this.config = { ...defaultConfig, ...options.config };
    this.subscriptions = options.subscriptions;
    this.locations = options.locations;
    this.clock = options.clock;
    this.sessionObjectOf = options.sessionObjectOf;
    const { messages, bytes } = retainedQuota(this.config);
    const shards = options.shards ?? 1; // the namespace's quota, shared evenly: each shard keeps its part
    const quota = { messages: Math.ceil(messages / shards), bytes: Math.ceil(bytes / shards) };
    this.shard = new TopicShard(options.retained, options.subscriptions.allSubscriptions(), quota, this.config.maxSubscriptions);
    for (const [clientId, where] of options.locations.all()) this.where.set(clientId, where);
  }

  get retained(): RetainedStore {
    return this.shard.retained;
  }

  /** Subscriptions held, shared ones included. */
  get size(): number {
    return this.shard.size;
  }

  /**
   * Accepts messages in order: retained ones are stored, each is matched. Returns how many
   * sessions each reached, and per target the messages and deliveries it must carry on with.
   * Sessions that are away get QoS 1/2 only; a subscriber nobody placed is skipped. A QoS 1/2
   * message a rule's full outbox refuses goes nowhere: its reason code is in `refused`.
   */
  publish(messages: Message[], from: number | null = null): {
    reached: number[]; targets: Map<Target, Routed[]>; refused: Array<number | undefined>; notRetained: Set<Message>;
  } {
    const targets = new Map<Target, Routed[]>();
    const refused: Array<number | undefined> = [];
    const notRetained = new Set<Message>();
    // per target, the last deliveries routed there: a message that goes to the same ones shares them
    const last = new Map<Target, Delivery[]>();
    // nothing changes where messages go during this call: a topic's messages from one publisher
    // take one way, found once (unless a shared subscription's turns make each its own)
    const ways = new Map<string, Map<string | undefined, Way>>(); // topic → publisher → way
    let previous: Way | undefined;
    const now = this.clock.now();
    const reached = messages.map((message, i) => {
      refused[i] = this.rules?.accept(message, { clientId: message.publisher }, message.refusable === true);
      if (refused[i] !== undefined) return 0;
      message.stamp = this.stamped = Math.max(this.stamped + 1, now * 1024);
      if (message.retain && !this.shard.retain(message)) notRetained.add(message);
      // mostly the way of the message before; else one found earlier in this call, or a new one
      let way = previous?.topic === message.topic && previous.publisher === message.publisher ? previous : ways.get(message.topic)?.get(message.publisher);
      if (way?.qos !== message.qos) {
        way = this.way(message, last);
        if (this.shard.steady(message.topic)) {
          let byPublisher = ways.get(message.topic);
          if (!byPublisher) ways.set(message.topic, (byPublisher = new Map()));
          byPublisher.set(message.publisher, way);
        } else way.topic = undefined; // never taken again
      }
      previous = way;
      for (const [target, deliveries] of way.targets) pushTo(targets, target, { message, deliveries });
      for (const [clientId, to] of way.live) {
        let routes = this.lastRouted.get(clientId);
        if (!routes) this.lastRouted.set(clientId, (routes = [0, 0]));
        routes[to === from ? 0 : 1] = message.stamp;
      }
      return way.reached;
    });
    return { reached, targets, refused, notRetained };
  }

  /** Where a message goes: per target its deliveries (shared with the last list to that target if the same). */
  private way(message: Message, last: Map<Target, Delivery[]>): Way {
    const deliveries = this.shard.route(message, (id) => typeof this.where.get(id) === 'number');
    const byTarget = new Map<Target, Delivery[]>();
    const live: Way['live'] = [];
    for (const d of deliveries) {
      const where = this.where.get(d.clientId);
      if (where === undefined || (where === 'away' && Math.min(d.qos, message.qos) === 0)) continue;
      const target: Target = where === 'away' ? `session:${this.sessionObjectOf(d.clientId)}` : `gateway:${where}`;
      if (where !== 'away') live.push([d.clientId, where]);
      pushTo(byTarget, target, d);
    }
    for (const [target, list] of byTarget) {
      const before = last.get(target);
      if (before && sameDeliveries(before, list)) byTarget.set(target, before);
      else last.set(target, list);
    }
    return { topic: message.topic, publisher: message.publisher, qos: message.qos, reached: deliveries.length, targets: [...byTarget], live };
  }

  /**
   * Registers (or moves) a client's subscriptions here; per subscription, the retained messages
   * asked for, or null when the index is full (MQTT_MAX_SUBSCRIPTIONS: this shard's own quota).
   */
  subscribe(clientId: string, where: Location, subscriptions: StoredSubscription[], retained: boolean[]): Subscribed {
    this.place(clientId, where);
    const now = this.clock.now();
    const budget = retainedBudget(this.config);
    return subscriptions.map((sub, i) => {
      if (!this.shard.add(clientId, sub)) return null;
      this.subscriptions.putSubscription(clientId, sub);
      return retained[i] ? this.shard.retainedMatching(sub.topicFilter, now, budget) : [];
    });
  }

  /**
   * A client's connection on `gateway` ended: its messages go to its session object from now on
   * (unless a later connection placed it elsewhere already). Returns the stamp of the last message
   * routed to it on that gateway (0: none), which the gateway waits to have seen before its session
   * leaves: so nothing routed to the old place arrives after what is routed to the new one.
   */
  leave(clientId: string, gateway: number): Routes {
    if (this.where.get(clientId) !== gateway) return [0, 0];
    const last = this.lastRouted.get(clientId) ?? [0, 0];
    this.place(clientId, 'away');
    return last;
  }

  unsubscribe(clientId: string, topicFilters: string[]): void {
    for (const filter of topicFilters) {
      if (this.subscriptions.deleteSubscription(clientId, filter)) this.shard.remove(clientId, filter);
    }
    if (this.where.has(clientId) && this.subscriptions.subscriptions(clientId).length === 0) {
      this.where.delete(clientId);
      this.lastRouted.delete(clientId);
      this.locations.delete(clientId);
    }
  }

  private place(clientId: string, where: Location): void {
    if (this.where.get(clientId) === where) return;
    this.lastRouted.delete(clientId);
    this.where.set(clientId, where);
    this.locations.set(clientId, where);
  }
}

/**
 * Whether two messages go to the same sessions the same way. Then they share one list: an RPC
 * call carries an object once however often it appears, so a batch of one topic's messages to
 * the same subscribers carries their deliveries once.
 */
function sameDeliveries(a: Delivery[], b: Delivery[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i], b[i]];
    if (x.clientId !== y.clientId || x.qos !== y.qos || x.retainAsPublished !== y.retainAsPublished || x.connectionId !== y.connectionId
      || x.share !== y.share) return false;
    if (x.identifiers.length !== y.identifiers.length || x.identifiers.some((id, k) => id !== y.identifiers[k])) return false;
  }
  return true;
}
