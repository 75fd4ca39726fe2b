// What a topic-shard object and a gateway answer to the other objects' calls in the sharded
// topology (a session object's SessionOwner answers its own). The Durable Objects meter and time
// these calls; Node tests call them in one process.
import type { Broker } from '../broker.ts';
import type { FabricCore, GatewayCalls, ShardCalls } from '../fabric-core.ts';
import type { Message, StoredSubscription } from '../ports.ts';
import type { Accepted, Subscribed } from '../remote.ts';
import { packAnswers, unpackMessages, unpackRouted, type PackedAnswers, type PackedMessages, type PackedRouted } from '../packed.ts';
import type { Routes, ShardHost, Target } from './shard-host.ts';

export class ShardEndpoint implements ShardCalls {
  private readonly host: ShardHost;
  private readonly fabric: Pick<FabricCore, 'route' | 'backlogged'>;

  constructor(host: ShardHost, fabric: Pick<FabricCore, 'route' | 'backlogged'>) {
    this.host = host;
    this.fabric = fabric;
  }

  /**
   * Accepts messages from a gateway (`from`; null: a session object), in its order, and resolves
   * once they reached the other gateways and session objects they are for; those for the
   * caller's own gateway ride the answer. A batch of QoS 0 messages only is answered once routed,
   * before they reached anyone: nothing acknowledges them, and the calls that carry them on keep
   * their order (one in flight per target), so the publisher's next batch need not wait for them.
   * Unless those calls are backlogged: then it waits, so a fast publisher's gateway holds what it
   * sends, not this shard.
   */
  publish(messages: PackedMessages, from: number | null): Promise<PackedAnswers> {
    return this.accept(unpackMessages(messages), from);
  }

  /** `publish` for messages from this object itself (a rule's republish). */
  async accept(messages: Message[], from: number | null): Promise<PackedAnswers> {
    const { reached, targets, refused, notRetained } = this.host.publish(messages, from);
    const own: Target = `gateway:${from ?? -1}`;
    const here = targets.get(own) ?? [];
    targets.delete(own);
    const delivered = this.fabric.route(targets);
    if (messages.some((m) => m.qos > 0) || this.fabric.backlogged(targets.keys())) await delivered;
    else void delivered.catch(() => undefined); // at most once: a lost call loses them (one past its deadline is logged)
    return packAnswers(messages, reached, refused, notRetained, here);
  }

  async subscribe(clientId: string, gateway: number | null, subscriptions: StoredSubscription[], retained: boolean[]): Promise<Subscribed> {
    return this.host.subscribe(clientId, gateway ?? 'away', subscriptions, retained);
  }

  async unsubscribe(clientId: string, topicFilters: string[]): Promise<void> {
    this.host.unsubscribe(clientId, topicFilters);
  }

  async leave(clientId: string, gateway: number): Promise<Routes> {
    return this.host.leave(clientId, gateway);
  }

  /**
   * The retained messages here matching a (checked) filter, by topic, until `maxBytes` of payload;
   * `more` when some were left out. A gateway answering a Worker's look-up asks every shard.
   */
  retained(filter: string, maxBytes: number): { messages: Message[]; more: boolean } {
    const all = this.host.retained.match(filter).sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
    let bytes = 0;
    const messages = all.filter((m) => (bytes += m.payload.length + m.topic.length) <= maxBytes);
    return { messages, more: messages.length < all.length };
  }
}

export class GatewayEndpoint implements GatewayCalls {
  private readonly broker: Broker;

  constructor(broker: Broker) {
    this.broker = broker;
  }

  /** Messages a shard or session object routed to this gateway's sessions. */
  deliver(batch: PackedRouted): Promise<void> {
    return this.broker.receive(unpackRouted(batch));
  }

  /** A connection on another gateway claimed a client id held here. */
  takeover(clientId: string, connectionId: string): Promise<void> {
    return this.broker.gateway.takeOver(clientId, connectionId);
  }
}
