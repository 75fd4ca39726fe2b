// The sharded topology's calls between objects, over Durable Object RPC: the Remote a gateway or
// session object gives its broker, and the batched calls a shard or session object makes to
// gateways and session objects. Every call this object makes is tracked, so an event handler can
// wait for its calls before it returns.
import type { Message, OutboundMessage } from '../broker/index.ts';
import { Batcher } from '../broker/batcher.ts';
import { pushTo } from '../broker/multimap.ts';
import { paged, type Accepted, type Remote, type Routed, type SessionExport, type SessionLink, type ShardLink } from '../broker/remote.ts';
import type { Target } from '../broker/roles/shard-host.ts';
import { sessionObjectOf, shardOfTopic, shardsOfFilter } from '../broker/shard-key.ts';
import { objectName, type Topology } from './topology.ts';

/** Who is calling: a gateway's calls place its clients there; a session object's place them away. */
export interface Caller {
  role: 'gateway' | 'shard' | 'session';
  index: number;
}

/**
 * Each kind of call's deadline, in multiples of the call timeout. A call only waits on calls of a
 * lower level (docs/ARCHITECTURE.md, "Who waits on whom"), so its deadline outlasts theirs: a
 * shard's subscribe, or a page of a session's messages, waits on nothing; a hand-over (detach) on a shard's subscribe; a takeover on a
 * hand-over and on the shard calls of an arrival; a claim (attach) on a takeover. A delivery may
 * wait for a client's session to settle on its gateway (bounded by one timeout) and pass messages
 * on to a session object; a publish waits on its deliveries.
 */
const levels = {
  subscribe: 1, unsubscribe: 1, page: 1, detach: 2, takeover: 3, attach: 4, deliver: 3, enqueue: 3, publish: 4,
} as const;

export type CallKind = keyof typeof levels;

/** A call between objects that did not answer in time. */
export class CallTimeout extends Error {
  constructor(kind: CallKind, ms: number) {
    super(`${kind} call timed out after ${ms} ms`);
  }
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
  /** The deadline of a call that waits on no other, in ms. */
  private readonly timeout: number;
  /** Calls that missed their deadline, by kind. */
  readonly timeouts: Partial<Record<CallKind, number>> = {};

  constructor(env: Env, namespace: string, topology: Topology, caller: Caller, timeout = 5_000) {
    this.env = env;
    this.namespace = namespace;
    this.topology = topology;
    this.timeout = timeout;
    const where = caller.role === 'gateway' ? caller.index : null;
    this.publishes = new Batcher((shard, messages) => this.deadline('publish', this.shard(shard).publish(messages, where)));
    this.routes = new Batcher(async (target, batch) => {
      const [role, index] = target.split(':') as ['gateway' | 'session', string];
      if (role === 'gateway') await this.deadline('deliver', this.gateway(Number(index)).deliver(batch));
      else await this.deadline('enqueue', this.env.SESSION.getByName(objectName(this.namespace, Number(index))).enqueue(batch, where));
      return batch.map(() => undefined);
    });
    this.shards = {
      publish: (message) => this.track(this.publishes.push(shardOfTopic(message.topic, topology.shards), message)),
      subscribe: (clientId, subscriptions, retained) => this.track((async () => {
        const found: Message[][] = subscriptions.map(() => []);
        await Promise.all([...this.byShard(subscriptions.map((s) => s.topicFilter))].map(async ([shard, picked]) => {
          const call = this.shard(shard).subscribe(clientId, where, picked.map((i) => subscriptions[i]), picked.map((i) => retained[i]));
          // RPC's types lose readonly tuples (user properties); the values are the same
          const messages = await this.deadline('subscribe', call) as Message[][];
          picked.forEach((i, k) => found[i].push(...messages[k]));
        }));
        return found;
      })()),
      unsubscribe: (clientId, topicFilters) => this.track((async () => {
        await Promise.all([...this.byShard(topicFilters)].map(([shard, picked]) =>
          this.deadline('unsubscribe', this.shard(shard).unsubscribe(clientId, picked.map((i) => topicFilters[i])))));
      })()),
    };
    if (caller.role === 'gateway') {
      this.sessions = {
        attach: (clientId, connectionId) => this.track(this.attach(clientId, caller.index, connectionId)),
        abandon: (clientId, connectionId) => this.track(this.deadline('detach', this.session(clientId).abandon(clientId, connectionId))),
        detach: (clientId, connectionId, session) => this.track(this.detach(clientId, connectionId, session)),
        forward: (batch) => this.toSessionObjects(batch),
      };
    }
  }

  /**
   * Claims a client id. A claim that misses its deadline fails its CONNECT; if the session object
   * answers after all, the session it gave is handed straight back, so nothing is lost.
   */
  private async attach(clientId: string, gateway: number, connectionId: string): Promise<SessionExport | undefined> {
    const object = this.session(clientId);
    const abandon = () => void this.track(this.deadline('detach', object.abandon(clientId, connectionId))).catch(() => undefined);
    const call = object.attach(clientId, gateway, connectionId) as Promise<SessionExport | undefined>;
    const session = await this.deadline('attach', call, abandon);
    if (!session?.more) return session;
    try { // the rest of its messages, a page per call
      const outbound = [...session.outbound];
      for (let more = true; more;) {
        const page = await this.deadline('page', object.page(clientId, connectionId, outbound[outbound.length - 1].seq)) as { outbound: OutboundMessage[]; more: boolean };
        outbound.push(...page.outbound);
        more = page.more;
      }
      return { ...session, outbound, more: false };
    } catch (err) {
      abandon();
      throw err;
    }
  }

  /** Hands a session over; one too large for a call goes in pages ahead of the detach. */
  private async detach(clientId: string, connectionId: string, session: SessionExport | undefined): Promise<void> {
    const object = this.session(clientId);
    const pages = session ? paged(session.outbound) : [];
    if (pages.length <= 1) return this.deadline('detach', object.detach(clientId, connectionId, session));
    for (const [i, page] of pages.slice(0, -1).entries()) await this.deadline('page', object.stage(clientId, connectionId, page, i === 0));
    await this.deadline('detach', object.detach(clientId, connectionId, { ...session!, outbound: pages[pages.length - 1] }, true));
  }

  /**
   * A call with its deadline (its kind's level times the call timeout). Past it, the call fails
   * with CallTimeout and is counted; `late` gets what it answers afterwards, if it ever does.
   */
  private deadline<T>(kind: CallKind, call: Promise<T>, late?: (value: T) => void): Promise<T> {
    const ms = levels[kind] * this.timeout;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let expired = false;
    const expiry = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        this.timeouts[kind] = (this.timeouts[kind] ?? 0) + 1;
        console.error(`${this.namespace}: ${kind} call timed out after ${ms} ms`);
        reject(new CallTimeout(kind, ms));
      }, ms);
    });
    const answer = Promise.resolve(call);
    void answer.then((value) => {
      if (expired) late?.(value);
    }, () => undefined).finally(() => clearTimeout(timer!));
    return Promise.race([answer, expiry]);
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
    return this.track(this.deadline('deliver', this.gateway(gateway).deliver(batch)));
  }

  takeover(gateway: number, clientId: string, connectionId: string): Promise<void> {
    return this.track(this.deadline('takeover', this.gateway(gateway).takeover(clientId, connectionId)));
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
