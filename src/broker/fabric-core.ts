// The sharded topology's calls between objects, whatever carries them: the Remote a gateway or
// session object gives its broker, and the batched calls a shard or session object makes to
// gateways and session objects, routed by shard key to the objects a Directory names. The edge
// gives it Durable Object stubs (edge/fabric.ts); Node tests give it objects in one process.
// Every call is tracked, so an event handler can wait for its calls before it returns.
import type { MqttError } from '../protocol/index.ts';
import { notOwner, notOwnerMessage } from './identity.ts';
import { persistentQuotaExceeded, persistentQuotaMessage } from './persistent-quota.ts';
import { Batcher } from './batcher.ts';
import { Deadlines } from './deadlines.ts';
import { pushTo } from './multimap.ts';
import { entryBytes, type Message, type OutboundMessage, type StoredSubscription } from './ports.ts';
import { packMessages, packRouted, unpackAnswers, type PackedAnswers, type PackedMessages, type PackedRouted } from './packed.ts';
import { pageBytes, paged, type Accepted, type Remote, type Routed, type SessionExport, type SessionLink, type ShardLink, type Subscribed } from './remote.ts';
import type { Routes, Target } from './roles/shard-host.ts';
import { sessionObjectOf, shardOfTopic, shardsOfFilter } from './shard-key.ts';

/** How many objects of each role a sharded namespace has. */
export interface Topology {
  gateways: number;
  shards: number;
  sessions: number;
}

/** The refusal a claim's error stands for, once it crossed RPC (which keeps an error's message only). */
function refusal(err: unknown): MqttError | undefined {
  if (!(err instanceof Error)) return undefined;
  if (err.message.includes(notOwnerMessage)) return notOwner();
  if (err.message.includes(persistentQuotaMessage)) return persistentQuotaExceeded();
  return undefined;
}

/** Who is calling: a gateway's calls place its clients there; a session object's place them away. */
export interface Caller {
  role: 'gateway' | 'shard' | 'session';
  index: number;
}

/** What a topic-shard object answers (roles/endpoints.ts). */
export interface ShardCalls {
  /**
   * `messages` in their packed form (packed.ts); `from`: the calling gateway, null for a session
   * object; deliveries for its sessions ride the answer.
   */
  publish(messages: PackedMessages, from: number | null): Promise<PackedAnswers>;
  /** `gateway`: where the client is; null: its session is away, with its session object. */
  subscribe(clientId: string, gateway: number | null, subscriptions: StoredSubscription[], retained: boolean[]): Promise<Subscribed>;
  unsubscribe(clientId: string, topicFilters: string[]): Promise<void>;
  /** A client's connection on `gateway` ended; answers the stamp of the last message routed to it there. */
  leave(clientId: string, gateway: number): Promise<Routes>;
}

/** What a gateway answers (roles/endpoints.ts). */
export interface GatewayCalls {
  deliver(batch: PackedRouted): Promise<void>;
  takeover(clientId: string, connectionId: string): Promise<void>;
}

/** What a session object answers (roles/session-owner.ts). */
export interface SessionCalls {
  /**
   * `owner`: the identity claiming it; another identity's session is refused (identity.ts).
   * `persistent`: the connection's session outlives it; a new one past the object's share of the
   * quota is refused (persistent-quota.ts).
   */
  attach(clientId: string, gateway: number, connectionId: string, owner?: string, persistent?: boolean): Promise<SessionExport | undefined>;
  /** The outbound messages after `after` (a seq) of a session lent to a claim, one page. */
  page(clientId: string, connectionId: string, after: number): Promise<{ outbound: OutboundMessage[]; more: boolean }>;
  abandon(clientId: string, connectionId: string): Promise<void>;
  /** A page of a session's outbound messages ahead of its detach (`first`: the first page). */
  stage(clientId: string, connectionId: string, outbound: OutboundMessage[], first: boolean): Promise<void>;
  detach(clientId: string, connectionId: string, session: SessionExport | undefined, staged?: boolean): Promise<void>;
  enqueue(batch: PackedRouted, from: number | null): Promise<void>;
}

/**
 * Each kind of call's deadline, in multiples of the call timeout. A call only waits on calls of a
 * lower level (docs/ARCHITECTURE.md, "Who waits on whom"), so its deadline outlasts theirs: a
 * shard's subscribe, or a page of a session's messages, waits on nothing; a hand-over (detach) on a shard's subscribe; a takeover on a
 * hand-over and on the shard calls of an arrival; a claim (attach) on a takeover. A delivery may
 * wait for a client's session to settle on its gateway (bounded by one timeout) and pass messages
 * on to a session object; a publish waits on its deliveries.
 */
/**
 * What one batched call carries at most: 1,024 messages (a busy publisher gateway's event brings a
 * few hundred) and a page of bytes, well under the 32 MiB a Durable Object RPC call may carry.
 */
// a message's properties count too: a user property may be most of a packet (MQTT_MAX_PACKET_SIZE)
const messageLimits = { items: 1024, bytes: pageBytes, size: (message: Message) => entryBytes({ message }) };
const routedLimits = { ...messageLimits, size: (r: Routed) => messageLimits.size(r.message) };

const levels = {
  subscribe: 1, unsubscribe: 1, leave: 1, page: 1, detach: 2, takeover: 3, attach: 4, deliver: 3, enqueue: 3, publish: 4,
} as const;

export type CallKind = keyof typeof levels;

/** A call between objects that did not answer in time. */
export class CallTimeout extends Error {
  constructor(kind: CallKind, ms: number) {
    super(`${kind} call timed out after ${ms} ms`);
  }
}

/** The objects of one namespace, by role and index. */
export interface Directory {
  shard(index: number): ShardCalls;
  gateway(index: number): GatewayCalls;
  session(index: number): SessionCalls;
}

export class FabricCore implements Remote {
  readonly shards: ShardLink;
  readonly sessions?: SessionLink;
  readonly topology: Topology;
  private readonly directory: Directory;
  /** The caller's gateway; null for a shard or session object. */
  private readonly where: number | null;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly publishes: Batcher<number, Message, Accepted>;
  private readonly routes: Batcher<Target, Routed, undefined>;
  /** The deadline of a call that waits on no other, in ms. */
  private readonly timeout: number;
  /** Every call's deadline, on one timer (an eighth of a timeout late at most). */
  private readonly deadlines: Deadlines;
  private readonly log: (message: string) => void;
  /** Calls that missed their deadline, by kind. */
  readonly timeouts: Partial<Record<CallKind, number>> = {};

  constructor(directory: Directory, topology: Topology, caller: Caller, options: { timeout?: number; log?: (message: string) => void } = {}) {
    this.directory = directory;
    this.topology = topology;
    this.timeout = options.timeout ?? 5_000;
    this.deadlines = new Deadlines(this.timeout / 8);
    this.log = options.log ?? ((message) => console.error(message));
    const where = (this.where = caller.role === 'gateway' ? caller.index : null);
    this.publishes = new Batcher(async (shard, messages) => {
      try {
        const answers = await this.deadline('publish', this.directory.shard(shard).publish(packMessages(messages), where));
        await this.shards.answered?.(messages, answers);
        return unpackAnswers(answers);
      } catch (err) { // QoS 1/2 fail their publishes (no acknowledgement: sent again); QoS 0 are gone
        const lost = messages.filter((m) => m.qos === 0).length;
        if (lost) this.log(`${lost} QoS 0 messages to shard ${shard} lost: ${String(err)}`);
        throw err;
      }
    }, messageLimits);
    this.routes = new Batcher(async (target, batch) => {
      const [role, index] = target.split(':') as ['gateway' | 'session', string];
      const packed = packRouted(batch);
      if (role === 'gateway') await this.deadline('deliver', this.directory.gateway(Number(index)).deliver(packed));
      else await this.deadline('enqueue', this.directory.session(Number(index)).enqueue(packed, where));
      return [] as undefined[];
    }, routedLimits);
    this.shards = {
      // not tracked one by one: settled() waits for the batcher
      publish: (message) => this.publishes.push(shardOfTopic(message.topic, topology.shards), message),
      post: (message) => this.publishes.post(shardOfTopic(message.topic, topology.shards), message),
      subscribe: (clientId, subscriptions, retained) => this.track((async () => {
        const found: Subscribed = subscriptions.map(() => []);
        const refused = new Set<number>();
        await Promise.all([...this.byShard(subscriptions.map((s) => s.topicFilter))].map(async ([shard, picked]) => {
          const call = this.directory.shard(shard).subscribe(clientId, where, picked.map((i) => subscriptions[i]), picked.map((i) => retained[i]));
          const messages = await this.deadline('subscribe', call);
          picked.forEach((i, k) => (messages[k] ? found[i]?.push(...messages[k]) : refused.add(i)));
        }));
        if (!refused.size) return found;
        // a filter one of its shards had no room for is taken back from the others
        await this.shards.unsubscribe(clientId, [...refused].map((i) => subscriptions[i].topicFilter));
        return found.map((messages, i) => (refused.has(i) ? null : messages));
      })()),
      leave: (clientId, topicFilters) => this.track((async () => {
        const last = new Map<number, Routes>();
        await Promise.all([...this.byShard(topicFilters)].map(async ([shard]) => {
          last.set(shard, await this.deadline('leave', this.directory.shard(shard).leave(clientId, where!)));
        }));
        return last;
      })()),
      shardOf: (topic) => shardOfTopic(topic, topology.shards),
      unsubscribe: (clientId, topicFilters) => this.track((async () => {
        await Promise.all([...this.byShard(topicFilters)].map(([shard, picked]) =>
          this.deadline('unsubscribe', this.directory.shard(shard).unsubscribe(clientId, picked.map((i) => topicFilters[i])))));
      })()),
    };
    if (caller.role === 'gateway') {
      this.sessions = {
        attach: (clientId, connectionId, owner, persistent) => this.track(this.attach(clientId, caller.index, connectionId, owner, persistent)),
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
  private async attach(
    clientId: string, gateway: number, connectionId: string, owner: string | undefined, persistent: boolean,
  ): Promise<SessionExport | undefined> {
    const object = this.session(clientId);
    const abandon = () => void this.track(this.deadline('detach', object.abandon(clientId, connectionId))).catch(() => undefined);
    const claim = object.attach(clientId, gateway, connectionId, owner, persistent);
    const session = await this.deadline('attach', claim, abandon).catch((err: unknown) => {
      // an error crosses RPC as its message only; a refusal (another identity's session, the
      // persistent-session quota) claimed nothing
      throw refusal(err) ?? err;
    });
    if (!session?.more) return session;
    try { // the rest of its messages, a page per call
      const outbound = [...session.outbound];
      for (let more = true; more;) {
        const page = await this.deadline('page', object.page(clientId, connectionId, outbound[outbound.length - 1].seq));
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
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const cancel = this.deadlines.add(ms, () => {
        settled = true;
        this.timeouts[kind] = (this.timeouts[kind] ?? 0) + 1;
        this.log(`${kind} call timed out after ${ms} ms`);
        reject(new CallTimeout(kind, ms));
      });
      Promise.resolve(call).then((value) => {
        cancel();
        if (settled) return late?.(value);
        settled = true;
        resolve(value);
      }, (err: unknown) => {
        cancel();
        if (settled) return;
        settled = true;
        reject(err);
      });
    });
  }

  /** Sends routed messages on, one batched call per target. */
  route(targets: Map<Target, Routed[]>): Promise<unknown> {
    const sent: Promise<unknown>[] = [];
    for (const [target, batch] of targets) sent.push(this.routes.pushAll(target, batch));
    return this.track(Promise.all(sent));
  }

  /** Whether a call's worth of messages waits, behind the call in flight, for any of `targets`. */
  backlogged(targets: Iterable<Target>): boolean {
    for (const target of targets) if (this.routes.queued(target) >= messageLimits.items) return true;
    return false;
  }

  /**
   * Routed messages for sessions that are not on this gateway: to their clients' session objects,
   * one call each, not batched. A delivery passed back is often one a session object is waiting
   * on (it passed it here); behind a batcher's call in flight to that object it would wait for it.
   */
  toSessionObjects(batch: Routed[]): Promise<unknown> {
    const bySession = new Map<number, Routed[]>();
    for (const { message, deliveries } of batch) {
      for (const d of deliveries) pushTo(bySession, sessionObjectOf(d.clientId, this.topology.sessions), { message, deliveries: [d] });
    }
    return this.track(Promise.all([...bySession].map(([i, routed]) => this.deadline('enqueue', this.directory.session(i).enqueue(packRouted(routed), this.where)))));
  }

  /** A session object passing messages to the gateway its client went back to. */
  forward(gateway: number, batch: Routed[]): Promise<void> {
    return this.track(this.deadline('deliver', this.directory.gateway(gateway).deliver(packRouted(batch))));
  }

  takeover(gateway: number, clientId: string, connectionId: string): Promise<void> {
    return this.track(this.deadline('takeover', this.directory.gateway(gateway).takeover(clientId, connectionId)));
  }

  /** Resolves once the calls in flight now have settled (later ones belong to later events). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inFlight, this.publishes.settled(), this.routes.settled()]);
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

  private session(clientId: string): SessionCalls {
    return this.directory.session(sessionObjectOf(clientId, this.topology.sessions));
  }
}
