// The sharded topology's calls between objects, over Durable Object RPC: the Remote a gateway or
// session object gives its broker, and the batched calls a shard or session object makes to
// gateways and session objects. Every call this object makes is tracked, so an event handler can
// wait for its calls before it returns.
import type { Message } from '../broker/index.ts';
import { Batcher } from '../broker/batcher.ts';
import { pushTo } from '../broker/multimap.ts';
import { notOwner, notOwnerMessage } from '../broker/identity.ts';
import type { Accepted, Remote, Routed, SessionExport, SessionLink, ShardLink } from '../broker/remote.ts';
import type { Target } from '../broker/roles/shard-host.ts';
import { sessionObjectOf, shardOfTopic, shardsOfFilter } from '../broker/shard-key.ts';
import { objectName, type Topology } from './topology.ts';

/** Who is calling: a gateway's calls place its clients there; a session object's place them away. */
export interface Caller {
  role: 'gateway' | 'shard' | 'session';
  index: number;
}

export class Fabric implements Remote {
  readonly shards: ShardLink;
  readonly sessions?: SessionLink;
  private readonly env: Env;
  private readonly namespace: string;
  readonly topology: Topology;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly publishes: Batcher<number, Message, Accepted>;
  private readonly routes: Batcher<Target, Routed, undefined>;

  constructor(env: Env, namespace: string, topology: Topology, caller: Caller) {
    this.env = env;
    this.namespace = namespace;
    this.topology = topology;
    const where = caller.role === 'gateway' ? caller.index : null;
    this.publishes = new Batcher((shard, messages) => this.shard(shard).publish(messages, where));
    this.routes = new Batcher(async (target, batch) => {
      const [role, index] = target.split(':') as ['gateway' | 'session', string];
      if (role === 'gateway') await this.gateway(Number(index)).deliver(batch);
      else await this.env.SESSION.getByName(objectName(this.namespace, Number(index))).enqueue(batch, where);
      return batch.map(() => undefined);
    });
    this.shards = {
      publish: (message) => this.track(this.publishes.push(shardOfTopic(message.topic, topology.shards), message)),
      subscribe: (clientId, subscriptions, retained) => this.track((async () => {
        const found: Message[][] = subscriptions.map(() => []);
        await Promise.all([...this.byShard(subscriptions.map((s) => s.topicFilter))].map(async ([shard, picked]) => {
          // RPC's types lose readonly tuples (user properties); the values are the same
          const messages = await this.shard(shard).subscribe(clientId, where, picked.map((i) => subscriptions[i]), picked.map((i) => retained[i])) as Message[][];
          picked.forEach((i, k) => found[i].push(...messages[k]));
        }));
        return found;
      })()),
      unsubscribe: (clientId, topicFilters) => this.track((async () => {
        await Promise.all([...this.byShard(topicFilters)].map(([shard, picked]) => this.shard(shard).unsubscribe(clientId, picked.map((i) => topicFilters[i]))));
      })()),
    };
    if (caller.role === 'gateway') {
      this.sessions = {
        attach: (clientId, connectionId, owner) => this.track(
          (this.session(clientId).attach(clientId, caller.index, connectionId, owner) as Promise<SessionExport | undefined>)
            .catch((err: unknown) => { // an error crosses RPC as its message only
              throw err instanceof Error && err.message.includes(notOwnerMessage) ? notOwner() : err;
            }),
        ),
        detach: (clientId, connectionId, session) => this.track(this.session(clientId).detach(clientId, connectionId, session)),
        forward: (batch) => this.toSessionObjects(batch),
      };
    }
  }

  /** Sends routed messages on, one batched call per target. */
  route(targets: Map<Target, Routed[]>): Promise<unknown> {
    const sent: Promise<undefined>[] = [];
    for (const [target, batch] of targets) for (const routed of batch) sent.push(this.routes.push(target, routed));
    return this.track(Promise.all(sent));
  }

  /** Routed messages for sessions that are not on this gateway: to their clients' session objects. */
  toSessionObjects(batch: Routed[]): Promise<unknown> {
    const targets = new Map<Target, Routed[]>();
    for (const { message, deliveries } of batch) {
      for (const d of deliveries) pushTo(targets, `session:${sessionObjectOf(d.clientId, this.topology.sessions)}`, { message, deliveries: [d] });
    }
    return this.route(targets);
  }

  /** A session object passing messages to the gateway its client went back to. */
  forward(gateway: number, batch: Routed[]): Promise<void> {
    return this.track(this.gateway(gateway).deliver(batch));
  }

  takeover(gateway: number, clientId: string, connectionId: string): Promise<void> {
    return this.track(this.gateway(gateway).takeover(clientId, connectionId));
  }

  /** Resolves once the calls in flight now have settled (later ones belong to later events). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  private track<T>(call: Promise<T>): Promise<T> {
    this.inFlight.add(call);
    void call.finally(() => this.inFlight.delete(call)).catch(() => undefined);
    return call;
  }

  private byShard(filters: string[]): Map<number, number[]> {
    const picked = new Map<number, number[]>();
    filters.forEach((filter, i) => {
      for (const shard of shardsOfFilter(filter, this.topology.shards)) pushTo(picked, shard, i);
    });
    return picked;
  }

  private shard(index: number) {
    return this.env.SHARD.getByName(objectName(this.namespace, index));
  }

  private gateway(index: number) {
    return this.env.BROKER.getByName(objectName(this.namespace, index));
  }

  private session(clientId: string) {
    return this.env.SESSION.getByName(objectName(this.namespace, sessionObjectOf(clientId, this.topology.sessions)));
  }
}
