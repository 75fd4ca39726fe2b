// Session role: opens, resumes and ends sessions; holds offline queues; times wills
// (Will Delay Interval [MQTT-3.1.3-9]) and session expiry [MQTT-3.1.2-23]. A session that ends
// with its connection keeps its message flows in memory, copied to snapshots so that a
// hibernation loses none (clean-flows.ts); anything that outlives a connection keeps them in the
// store. In the sharded topology a gateway holds the sessions of its live
// connections only: it claims a session from its session object on CONNECT and hands it back
// when the connection ends; the session object holds it (queue, will delay, expiry) meanwhile.
import { MqttError, ReasonCode, type Will } from '../../protocol/index.ts';
import type { Broker } from '../broker.ts';
import type { Connection } from '../connection.ts';
import { heldBytes, type Message, type OutboundMessage, type RecognisedBounds, type SessionState, type SessionStore, type SessionTimes } from '../ports.ts';
import { pageBytes, type Routed, type SessionExport } from '../remote.ts';
import type { Routes } from './shard-host.ts';
import { pushTo } from '../multimap.ts';
import { Session, type SessionLimits } from '../session.ts';
import { NeverExpires } from '../config.ts';
import { identityOf } from '../identity.ts';
import { CleanFlows, type FlowSnapshots } from '../clean-flows.ts';

export class SessionHost {
  /** clientId → next moment something is due (will or expiry) for a session that is away. */
  private readonly due = new Map<string, number>();
  /** Offline queue sizes, counted once per session. */
  private readonly queued = new Map<string, number>();
  /** The newest stamp (Message.stamp) in each offline queue of a session object, once known. */
  private readonly newest = new Map<string, number>();
  /** Inside `batched`: messages queued for sessions away, written per session at its end. */
  private pending?: Map<string, Array<Omit<OutboundMessage, 'seq'>>>;

  private readonly broker: Broker;
  readonly store: SessionStore;
  /** In-flight and queued messages and QoS 2 ids of sessions that end with their connection. */
  readonly flows: CleanFlows;
  /** Sessions on their way to their session object, by client id (sharded gateways). */
  private readonly leaving = new Map<string, Promise<void>>();
  /**
   * Sessions on their way out whose export is not taken yet: messages for them are queued here
   * and leave with them (sharded gateways).
   */
  private readonly holding = new Set<string>();
  /**
   * Messages routed here for clients whose session is on its way here: delivered once it arrived
   * (sharded gateways). Bounded per client by maxQueuedMessages and for the gateway by
   * keptBytesFactor x maxQueuedBytes of payload, and in time by the claim's deadline.
   */
  private readonly awaiting = new Map<string, Routed[]>();
  /** Payload bytes in `awaiting`. */
  private keptBytes = 0;
  /** Sessions whose hand-over failed, kept here until it is tried again (sharded gateways). */
  private readonly unsent = new Map<string, { connectionId: string; state: SessionState }>();
  /** Per client (sharded gateways): per shard, the newest stamps of the messages routed to it here, each way. */
  private readonly seenBy = new Map<string, Map<number, Routes>>();
  /** Leaving sessions waiting to have seen what their shards routed here: per shard, the stamps owed. */
  private readonly owed = new Map<string, { stamps: Map<number, Routes>; settled: () => void }>();
  /** Connections claiming each client id's session here (sharded gateways). */
  private readonly arriving = new Map<string, Set<string>>();
  /** The same claims by connection id: a takeover waits for the one it ends, never for a later one. */
  private readonly arrivals = new Map<string, Promise<void>>();

  constructor(broker: Broker, store: SessionStore, snapshots?: FlowSnapshots) {
    this.broker = broker;
    this.store = store;
    this.flows = new CleanFlows(snapshots);
  }

  /** After a restart: sessions whose connection is gone are treated as abnormally disconnected. */
  reconcile(live: (connectionId: string) => boolean): void {
    const gone: string[] = [];
    for (const times of this.store.times()) { // a will's message is read only for a connection gone
      if (times.connectionId && !live(times.connectionId)) gone.push(times.clientId);
      else if (!times.connectionId) this.track(times);
    }
    for (const clientId of gone) {
      const state = this.store.get(clientId);
      if (state) this.away(state, 'abnormal');
    }
    if (gone.length) this.broker.log('info', `${gone.length} connections gone since this object last ran (a restart): treated as abnormally disconnected, wills published`);
  }

  open(conn: Connection, clean: boolean, expiryInterval: number, will: Will | undefined): { session: Session; present: boolean; durable: boolean } {
    const old = this.store.get(conn.clientId);
    const present = !!old && !clean; // [MQTT-3.2.2-2]
    if (old && clean) this.end(old); // [MQTT-3.1.2-4]
    const state: SessionState = { clientId: conn.clientId, expiryInterval, connectionId: conn.id, will };
    const owner = identityOf(conn.principal);
    if (owner !== undefined) state.owner = owner;
    this.store.put(state); // a returning client cancels a delayed will [MQTT-3.1.3-9]
    this.due.delete(conn.clientId);
    this.recount(conn.clientId);
    const durable = expiryInterval > 0 || present;
    const session = new Session(conn.clientId, durable ? this.store : this.flows.store, this.limits(durable));
    return { session, present, durable };
  }

  /** QoS 1/2 messages queued for or in flight to every session, in the store or in memory. */
  outboundTotal(): number {
    return this.store.outboundTotal() + this.flows.store.outboundTotal();
  }

  /** QoS 1/2 messages queued for or in flight to one session. */
  outboundCount(clientId: string): number {
    return this.store.outboundCount(clientId) + this.flows.store.outboundCount(clientId);
  }

  /** QoS 1/2 messages queued for or in flight to one session, in delivery order. */
  outbound(clientId: string): OutboundMessage[] {
    return [...this.store.outbound(clientId), ...this.flows.store.outbound(clientId)];
  }

  /**
   * After a wake: the flows of a live connection's session, from where they are kept. Those held
   * only in memory are bounded in bytes too; a persistent session's are bounded in messages (see
   * README).
   */
  resume(clientId: string, durable: boolean): Session {
    return new Session(clientId, durable ? this.store : this.flows.restore(clientId), this.limits(durable));
  }

  /** A persistent session's queue is in SQLite, bounded in messages; the others' are in memory, bounded in bytes too. */
  private limits(durable: boolean): SessionLimits {
    const { maxQueuedMessages: messages, maxQueuedBytes, maxQueuedBytesTotal } = this.broker.config;
    if (durable) return { messages, bytes: Infinity };
    return { messages, bytes: maxQueuedBytes, shared: { held: () => this.flows.store.bytes, max: maxQueuedBytesTotal } };
  }

  disconnected(conn: Connection, how: 'normal' | 'abnormal' | 'takeover'): void {
    const state = this.store.get(conn.clientId);
    if (state?.connectionId === conn.id) this.away(state, how, conn.pending());
  }

  /** `pending`: the connection's publishes still travelling to their shards (sharded). */
  private away(state: SessionState, how: 'normal' | 'abnormal' | 'takeover', pending?: Promise<void>): void {
    const now = this.broker.clock.now();
    const will = how === 'normal' ? undefined : state.will; // [MQTT-3.1.2-10] DISCONNECT discards it
    const delay = will?.properties?.willDelayInterval ?? 0;
    if (will && (delay === 0 || state.expiryInterval === 0)) this.publishWill(state.clientId, will);
    const handOver = !!this.broker.remote?.sessions;
    if (state.expiryInterval === 0) {
      const gone = this.end({ ...state, will: undefined });
      if (handOver) this.handOver(state.clientId, state.connectionId!, undefined, gone);
      return;
    }
    const delayed = will && delay > 0 ? { ...will, at: now + Math.min(delay, state.expiryInterval) * 1000 } : undefined;
    const next: SessionState = { ...state, connectionId: undefined, disconnectedAt: now, will: delayed };
    // the QoS 2 ids of publishes still on their way are recorded once their shard answers: the
    // session leaves after that, so a resend on another gateway is known as one [MQTT-4.3.3]
    if (handOver) return this.handOver(state.clientId, state.connectionId!, next, pending);
    this.store.put(next);
    this.track(timesOf(next));
  }

  /**
   * Sharded gateway, on CONNECT: waits for an earlier connection's session to have left, claims
   * the client id (the session object takes over its connection on any gateway) and takes the
   * session in. A clean start ends the old one at the shards before anything new is registered.
   * `persistent`: the connection's session will outlive it (a new one takes a place of the session
   * object's share of the quota, or is refused with 0x97).
   */
  claim(conn: Connection, clean: boolean, persistent: boolean): Promise<void> {
    const claimed = this.fetch(conn, clean, persistent).catch((err: unknown) => {
      if (err instanceof MqttError) throw err;
      // the session object or a shard did not answer in time, or failed: a CONNACK says so
      throw new MqttError(ReasonCode.ServerUnavailable, `session not claimed: ${String(err)}`);
    });
    const claiming = this.arriving.get(conn.clientId) ?? new Set<string>();
    this.arriving.set(conn.clientId, claiming.add(conn.id));
    this.arrivals.set(conn.id, claimed);
    void claimed.catch(() => undefined).finally(() => {
      this.arrivals.delete(conn.id);
      claiming.delete(conn.id);
      if (claiming.size) return; // another claim of it here may still take what was kept
      if (this.arriving.get(conn.clientId) === claiming) this.arriving.delete(conn.clientId);
      const kept = this.takeKept(conn.clientId);
      // to the session now here (its CONNACK went out first), or on to wherever it went; a clean
      // start discarded the session they were routed to [MQTT-3.1.2-4]
        if (kept && !clean) void this.broker.receive(kept).catch((err: unknown) => this.broker.log('error', `messages for ${conn.clientId} not passed on: ${String(err)}`));
    });
    return claimed;
  }

  /** QoS 1/2 messages kept for a client while its session travelled here: into its queue, in stamp order. */
  private queueKept(clientId: string): void {
    const kept = this.takeKept(clientId);
    if (!kept) return;
    const entries: Array<Omit<OutboundMessage, 'seq'>> = [];
    for (const { message, deliveries } of kept) {
      for (const d of deliveries) {
        const qos = Math.min(message.qos, d.qos) as Message['qos']; // [MQTT-3.8.4-8]
        const subscriptionIdentifiers = d.identifiers.length ? d.identifiers : undefined;
        const out = { ...message, qos, retain: d.retainAsPublished && message.retain };
        if (qos > 0 && !this.recognise(clientId, out, d.share)) entries.push({ message: out, subscriptionIdentifiers, state: 'queued' });
      }
    }
    const room = Math.max(0, this.broker.config.maxQueuedMessages - this.store.outboundCount(clientId));
    for (let i = room; i < entries.length; i++) this.broker.dropped(clientId, 'queue-full');
    this.requeue(clientId, entries.slice(0, room));
  }

  /**
   * Adds messages to a session's queue. Some may be older than messages queued already: they came
   * by another path (kept on a gateway, or held for a lent session). Then the queued (unsent)
   * messages are written again in the order their topic shards stamped them, so one topic's
   * messages keep their publisher's order [MQTT-4.6.0-6].
   */
  private requeue(clientId: string, entries: Array<Omit<OutboundMessage, 'seq'>>): void {
    const places = this.store.outboundPlaces(clientId, true);
    const pending = entries.map(({ message, subscriptionIdentifiers }) => ({ message, subscriptionIdentifiers, state: 'queued' as const })).sort(byStamp);
    // the queued messages stamped after the oldest newcomer move behind it: read, deleted and
    // written again a page at a time (payloads are only in memory a page at a time)
    const first = pending.length ? stampOf(pending[0]) : Infinity;
    const moving = places.filter((p) => p.state === 'queued' && (p.stamp ?? Number.MAX_SAFE_INTEGER) > first);
    for (let i = 0; i < moving.length;) {
      let bytes = 0;
      const page: number[] = [];
      for (; i < moving.length && (!page.length || bytes + moving[i].bytes <= pageBytes); i++) {
        page.push(moving[i].seq);
        bytes += moving[i].bytes;
      }
      const merged: Array<Omit<OutboundMessage, 'seq'>> = [];
      for (const e of this.store.outboundEntries(clientId, page)) {
        while (pending.length && byStamp(pending[0], e) < 0) merged.push(pending.shift()!);
        merged.push({ message: e.message, subscriptionIdentifiers: e.subscriptionIdentifiers, state: 'queued' });
      }
      this.store.deleteOutbound(clientId, page);
      this.store.enqueueAll(clientId, merged);
    }
    this.store.enqueueAll(clientId, pending);
    this.recount(clientId);
  }

  /**
   * Keeps a message for a client whose claim is in progress here, to deliver once its session
   * arrived; false when there is none. A delivery never waits for a claim: the claim may wait on
   * a takeover that waits on the publish this delivery belongs to.
   */
  keepFor(clientId: string, routed: Routed): boolean {
    const claiming = this.arriving.get(clientId);
    if (!claiming?.size) return false;
    // for a claim here: the one its session object lent the session to, or the one that took it in
    const meant = routed.deliveries[0].connectionId ?? this.store.get(clientId)?.connectionId;
    if (meant === undefined || !claiming.has(meant)) return false;
    const d = routed.deliveries[0];
    if (Math.min(routed.message.qos, d.qos) === 0) return true; // not queued for a client not connected
    // bounded as its queue will be, and in bytes for the gateway (memory): beyond, dropped and counted
    const { maxQueuedMessages, maxQueuedBytes } = this.broker.config;
    const size = heldBytes(routed.message);
    if ((this.awaiting.get(clientId)?.length ?? 0) >= maxQueuedMessages || this.keptBytes + size > keptBytesFactor * maxQueuedBytes) {
      this.broker.dropped(clientId, 'queue-full');
      return true;
    }
    this.keptBytes += size;
    pushTo(this.awaiting, clientId, routed);
    return true;
  }

  /** Takes what was kept for a client. */
  private takeKept(clientId: string): Routed[] | undefined {
    const kept = this.awaiting.get(clientId);
    this.awaiting.delete(clientId);
    for (const { message } of kept ?? []) this.keptBytes -= heldBytes(message);
    return kept;
  }

  /** Whether a connection's CONNECT is claiming its session (its connect deadline is the claim's). */
  claiming(connectionId: string): boolean {
    return this.arrivals.has(connectionId);
  }

  /**
   * Resolves once a connection's claim settled. The session object answered that claim before it
   * asked for the takeover that waits here, so what is left of it is the shard calls of the
   * arrival: nothing that waits on the session object.
   */
  async arrived(connectionId: string): Promise<void> {
    await this.arrivals.get(connectionId)?.catch(() => undefined);
  }

  private async fetch(conn: Connection, clean: boolean, persistent: boolean): Promise<void> {
    const remote = this.broker.remote!;
    await this.leaving.get(conn.clientId);
    const session = await remote.sessions!.attach(conn.clientId, conn.id, identityOf(conn.principal), persistent);
    // a connection of the client id here that ended meanwhile hands its session over first: its
    // copy leaves this store before this one comes in (a hand-over waits on nothing of ours)
    await this.leaving.get(conn.clientId)?.catch(() => undefined);
    try {
      if (session && clean && session.subscriptions.length) {
        await remote.shards.unsubscribe(conn.clientId, session.subscriptions.map((s) => s.topicFilter));
        session.subscriptions = [];
      }
      if (session) this.adopt({ ...session, state: { ...session.state, connectionId: conn.id } });
      if (session?.subscriptions.length) await remote.shards.subscribe(conn.clientId, session.subscriptions, session.subscriptions.map(() => false));
      // messages kept for it while it travelled join its queue now, after what it brought, before
      // any other event (a takeover, a delivery) can run [MQTT-4.6.0-6]
      if (session && !clean) this.queueKept(conn.clientId);
    } catch (err) {
      // the connection never used this copy: the session object's, still lent, is the session
      if (this.store.get(conn.clientId)?.connectionId === conn.id) this.forget(conn.clientId);
      void remote.sessions!.abandon(conn.clientId, conn.id).catch(() => undefined);
      throw err;
    }
    if (conn.state !== 'awaiting-connect') { // the client left (or was taken over) while its session was on its way
      const state = this.store.get(conn.clientId);
      if (state?.connectionId === conn.id) this.away(state, 'abnormal');
      else this.handOver(conn.clientId, conn.id, undefined);
      throw new MqttError(ReasonCode.ImplementationSpecificError, 'connection closed during CONNECT');
    }
  }

  /**
   * Sharded gateway: a session that outlives its connection goes to its session object. It stays
   * in this object's store until the session object has it: a hand-over that fails (or a process
   * that stops meanwhile) loses nothing, and the next claim of the client id, or a restart, sends
   * it again.
   */
  private handOver(clientId: string, connectionId: string, state: SessionState | undefined, after?: Promise<void>): void {
    const sessions = this.broker.remote!.sessions!;
    let session: SessionExport | undefined;
    if (state) this.holding.add(clientId);
    const done: Promise<void> = Promise.resolve(after).catch(() => undefined)
      .then(() => state && this.settle(clientId))
      .then(() => {
        session = state && this.exported(clientId, state);
        this.seenBy.delete(clientId);
        this.holding.delete(clientId);
        this.flows.end(clientId);
        return sessions.detach(clientId, connectionId, session);
      })
      .then(() => {
        this.unsent.delete(clientId);
        // unless a claim here took the client id's session in meanwhile
        const now = this.store.get(clientId);
        if (!now || now.connectionId === connectionId) this.forget(clientId);
      }, (err: unknown) => {
        if (session) this.unsent.set(clientId, { connectionId, state: session.state });
        this.broker.log('error', `session of ${clientId} not handed over yet: ${String(err)}`);
      })
      .finally(() => {
        if (this.leaving.get(clientId) === done) this.leaving.delete(clientId);
      });
    this.leaving.set(clientId, done);
  }

  /**
   * Before a session leaves: its shards route its messages to its session object from now on, and
   * it waits (one call timeout at most) until every message they routed here before has arrived
   * and joined it. So none of them reaches the client after what was routed to its new place
   * [MQTT-4.6.0-6]. Waits on calls to shards (that wait on nothing) and on messages already on
   * their way here, never on a claim or a hand-over.
   */
  private async settle(clientId: string): Promise<void> {
    const filters = this.store.subscriptions(clientId).map((s) => s.topicFilter);
    if (!filters.length) return;
    const last = await this.broker.remote!.shards.leave(clientId, filters).catch(() => undefined);
    const seen = this.seenBy.get(clientId) ?? new Map<number, Routes>();
    const stamps = new Map([...last ?? []].filter(([shard, routes]) => owes(routes, seen.get(shard))));
    if (!stamps.size) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.broker.log('info', `messages routed to ${clientId} here had not all arrived after ${this.broker.config.callTimeout} ms; its session leaves all the same`);
        settled();
      }, this.broker.config.callTimeout);
      const settled = () => {
        clearTimeout(timer);
        this.owed.delete(clientId);
        resolve();
      };
      this.owed.set(clientId, { stamps, settled });
    });
  }

  /**
   * A message a shard routed here for a client (sharded gateways), on its publish's answer (way 0)
   * or in a deliver call (way 1): see settle.
   */
  saw(clientId: string, shard: number, way: 0 | 1, stamp: number): void {
    let seen = this.seenBy.get(clientId);
    if (!seen) {
      // only for a session here: connected, arriving, or leaving and not taken yet
      if (!(this.broker.gateway.byClientId.has(clientId) || this.arriving.has(clientId) || this.holding.has(clientId))) return;
      this.seenBy.set(clientId, (seen = new Map()));
    }
    const routes = seen.get(shard) ?? [0, 0];
    routes[way] = Math.max(stamp, routes[way]);
    seen.set(shard, routes);
    const owed = this.owed.get(clientId);
    const due = owed?.stamps.get(shard);
    if (!owed || !due || owes(due, routes)) return;
    owed.stamps.delete(shard);
    if (!owed.stamps.size) owed.settled();
  }

  /**
   * Whether messages for a client that is not connected here can still be queued in its session
   * here (sharded gateways): only until its hand-over took it. One whose hand-over failed may be
   * with its session object all the same (the answer, not the call, missed its deadline), so
   * messages for it go there: the session object keeps them for the copy it lent.
   */
  holds(clientId: string): boolean {
    return this.holding.has(clientId);
  }

  /** Resolves once a session on its way out is with its session object (sharded gateways). */
  async left(clientId: string): Promise<void> {
    await this.leaving.get(clientId);
  }

  /**
   * Sharded gateway, when its client id is claimed elsewhere: resolves once the session is with
   * its session object, sending again one whose hand-over failed. It waits for hand-overs only
   * (calls to the session object that never wait on a claim), never for a claim in progress here:
   * that claim waits at the session object for this very takeover.
   */
  async release(clientId: string): Promise<void> {
    await this.leaving.get(clientId);
    const unsent = this.unsent.get(clientId);
    if (!unsent) return;
    this.handOver(clientId, unsent.connectionId, unsent.state);
    await this.leaving.get(clientId);
  }

  /**
   * Session object, on a claim: the session as it moves to the claiming gateway, with the first
   * page of its messages. The copy here stays, lent to that connection (no will or expiry runs for
   * it), until the gateway hands the session back (`adopt`) or gives up the claim (`abandon`).
   */
  lend(clientId: string, connectionId: string): SessionExport | undefined {
    const state = this.store.get(clientId);
    if (!state) return undefined;
    this.rejoin(clientId); // what came while it was lent to an earlier claim
    const { outbound, more } = this.store.outboundPage(clientId, 0, pageBytes); // the rest: page(), one call each
    const session: SessionExport = {
      ...this.exported(clientId, { ...state, connectionId: undefined }, outbound), more,
    };
    this.store.put({ ...state, connectionId });
    this.due.delete(clientId);
    this.recount(clientId);
    return session;
  }

  /** Session object: the next page of a lent session's messages, after `seq`. */
  page(clientId: string, connectionId: string, after: number): { outbound: OutboundMessage[]; more: boolean } {
    if (this.store.get(clientId)?.connectionId !== connectionId) throw new Error(`session of ${clientId} is not lent to ${connectionId}`);
    return this.store.outboundPage(clientId, after, pageBytes);
  }

  /** Session object: a claim failed after it was answered; the lent session is away again. Returns it, if it was lent. */
  abandon(clientId: string, connectionId: string): SessionState | undefined {
    const state = this.store.get(clientId);
    if (state?.connectionId !== connectionId) return undefined;
    const away: SessionState = { ...state, connectionId: undefined, disconnectedAt: state.disconnectedAt ?? this.broker.clock.now() };
    this.store.put(away);
    this.rejoin(clientId);
    this.track(timesOf(away));
    return away;
  }

  /** Session object: the gateway ended a session lent to one of its connections. */
  ended(clientId: string, connectionId: string): void {
    if (this.store.get(clientId)?.connectionId === connectionId) this.forget(clientId);
  }

  private exported(clientId: string, state: SessionState, outbound = this.store.outbound(clientId)): SessionExport {
    const { store } = this;
    return {
      state, subscriptions: store.subscriptions(clientId), outbound, incoming: store.incoming(clientId),
      routing: store.routing(clientId), recognised: store.recognised(clientId),
    };
  }

  /** Whether this is a session object: it lends sessions to gateways (remote.ts). */
  private get lends(): boolean {
    return !!this.broker.remote && !this.broker.remote.sessions;
  }

  /** Session object: messages queued for a session while it was lent join its queue, after what it has. */
  private rejoin(clientId: string): void {
    if (!this.lends) return;
    const key = lentKey(clientId);
    const held = this.store.outboundPlaces(key);
    if (!held.length) return;
    for (let after = 0, more = true; more;) { // a page at a time
      const page = this.store.outboundPage(key, after, pageBytes);
      this.requeue(clientId, page.outbound.map(({ seq: _seq, ...entry }) => entry));
      after = page.outbound[page.outbound.length - 1].seq;
      more = page.more;
    }
    this.store.delete(key);
    this.recount(key);
  }

  /** Forgets what is known of a queue: it is counted (and its newest stamp read) again when needed. */
  private recount(clientId: string): void {
    this.queued.delete(clientId);
    this.newest.delete(clientId);
  }

  private forget(clientId: string): void {
    this.seenBy.delete(clientId);
    this.store.delete(clientId);
    if (this.lends) this.store.delete(lentKey(clientId));
    this.due.delete(clientId);
    this.recount(clientId);
  }

  /** Takes in a session from another object; one that is away is timed from here on. */
  adopt({ state, subscriptions, outbound, incoming, routing = [], recognised = [] }: SessionExport): void {
    const { clientId } = state;
    // what reached this object for it meanwhile (held for a lent copy) was noted here: kept with what it brings
    const noted = this.store.recognised(clientId);
    this.store.delete(clientId);
    this.store.put(state);
    for (const sub of subscriptions) this.store.putSubscription(clientId, sub);
    // what was sent first, in its order; then the queue in stamp order (see requeue)
    const queued = outbound.filter((e) => e.state === 'queued').sort(byStamp);
    this.store.enqueueAll(clientId, [...outbound.filter((e) => e.state !== 'queued'), ...queued].map(({ seq: _seq, ...entry }) => entry));
    for (const id of incoming) this.store.addIncoming(clientId, id);
    for (const [packetId, id] of routing) this.store.addIncoming(clientId, packetId, id);
    this.store.addRecognised(clientId, [...noted, ...recognised], this.recognisedBounds);
    this.rejoin(clientId);
    this.recount(clientId);
    if (!state.connectionId) this.track(timesOf(state));
  }

  /** Ends a session: a pending will goes out first [MQTT-3.1.3-9]; resolves once no shard routes to it. */
  end(state: SessionState): Promise<void> | undefined {
    if (state.will?.at !== undefined) this.publishWill(state.clientId, state.will);
    const gone = this.broker.forget(state.clientId, this.store.subscriptions(state.clientId).map((s) => s.topicFilter));
    this.store.delete(state.clientId);
    if (this.lends) this.store.delete(lentKey(state.clientId));
    this.flows.end(state.clientId);
    this.due.delete(state.clientId);
    this.recount(state.clientId);
    return gone;
  }

  /** Copies of QoS 2 messages recognised and not delivered again (`recognise`), since this object started. */
  copiesRecognised = 0;

  /**
   * Sharded topology: true when a QoS 2 message (one with a Message.id) reached this session
   * already: a copy its publisher's gateway routed again after a restart lost the shard's answer.
   * Otherwise notes its id, in the event that stores the message, and answers false [MQTT-4.3.3].
   */
  recognise(clientId: string, message: Message, share?: string): boolean {
    if (message.id === undefined || message.publisher === undefined || message.qos !== 2) return false;
    // a session's copy by a shared subscription is another delivery than its own [MQTT-4.8.2]
    const from = share === undefined ? message.publisher : `${message.publisher}\u0000${share}`;
    if (!this.store.recognise(clientId, from, message.id, this.recognisedBounds, this.broker.clock.now(), message.again)) return false;
    this.copiesRecognised++;
    this.broker.log('info', `a copy of QoS 2 message ${message.id} from ${message.publisher} for ${clientId}, sent again after a restart, recognised and not delivered twice`);
    return true;
  }

  /**
   * How many ids per publisher a session keeps: a publisher's copies sent again come first after
   * its reconnect [MQTT-4.4.0-1], and it has at most Receive Maximum QoS 2 messages unacknowledged
   * [MQTT-3.3.4-9], so the last that many from it are enough (at least 64, at most 1,024). And how
   * many publishers: 65,536 ids in all (about 1.2 MB carried in a hand-over, against 32 MiB a call).
   */
  private get recognisedBounds(): RecognisedBounds {
    const window = Math.max(64, Math.min(this.broker.config.receiveMaximum, recognisedWindow));
    return { window, publishers: Math.floor(recognisedIds / window) };
  }

  /** Queues a QoS 1/2 message for a session that is away, within the configured bound. */
  enqueue(clientId: string, message: Message, identifiers: number[]): void {
    // a session object does not queue into a copy it lent (the gateway may hand back one without
    // it), nor into one it has none of yet (a new session on its way here)
    if (this.lends) {
      const state = this.store.get(clientId);
      if (!state || state.connectionId) clientId = lentKey(clientId);
    }
    const count = this.queued.get(clientId) ?? this.store.outboundCount(clientId);
    if (count >= this.broker.config.maxQueuedMessages) {
      this.queued.set(clientId, count);
      return this.broker.dropped(clientId, 'queue-full');
    }
    const subscriptionIdentifiers = identifiers.length ? identifiers : undefined;
    const entry = { message, subscriptionIdentifiers, state: 'queued' as const };
    if (this.lends && message.stamp !== undefined) {
      // a session object gets one topic's messages by two paths (from its shard, passed back by a gateway)
      const newest = this.newest.get(clientId) ?? this.store.outboundPlaces(clientId, true).reduce((max, p) => Math.max(max, p.stamp ?? 0), 0);
      if (message.stamp < newest) return void (this.write(clientId), this.requeue(clientId, [entry]));
      this.newest.set(clientId, message.stamp);
    }
    if (this.pending) pushTo(this.pending, clientId, entry);
    else this.store.enqueue(clientId, entry);
    this.queued.set(clientId, count + 1);
  }

  /**
   * Runs `deliver`, a synchronous batch of deliveries, and writes what it queued for each session
   * away at its end, one `enqueueAll` per session (SQLite: an INSERT per 11 messages instead of
   * one per message). Nothing reads those queues before the end but `enqueue` itself.
   */
  batched<T>(deliver: () => T): T {
    if (this.pending) return deliver();
    this.pending = new Map();
    try {
      return deliver();
    } finally {
      for (const clientId of this.pending.keys()) this.write(clientId);
      this.pending = undefined;
    }
  }

  /** Writes what `batched` holds for one session. */
  private write(clientId: string): void {
    const entries = this.pending?.get(clientId);
    if (!entries) return;
    this.pending!.delete(clientId);
    this.store.enqueueAll(clientId, entries);
  }

  /** Publishes due wills, ends expired sessions; returns the next deadline. */
  sweep(now: number): number | undefined {
    let next: number | undefined;
    for (const [clientId, at] of [...this.due]) {
      if (at > now) {
        next = Math.min(next ?? at, at);
        continue;
      }
      const state = this.store.get(clientId);
      this.due.delete(clientId);
      if (!state || state.connectionId) continue;
      if (expiresAt(state) <= now) this.end(state);
      else if (state.will?.at !== undefined && state.will.at <= now) {
        this.publishWill(clientId, state.will);
        const rest = { ...state, will: undefined };
        this.store.put(rest);
        this.track(timesOf(rest));
      }
      const again = this.due.get(clientId);
      if (again !== undefined) next = Math.min(next ?? again, again);
    }
    return next;
  }

  private track(state: SessionTimes): void {
    const at = Math.min(expiresAt(state), state.willAt ?? Infinity);
    if (at === Infinity) return;
    this.due.set(state.clientId, at);
    this.broker.due(at);
  }

  private publishWill(clientId: string, will: Will): void {
    const { willDelayInterval: _d, messageExpiryInterval, ...properties } = will.properties ?? {};
    const now = this.broker.clock.now();
    this.broker.publish({
      topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
      properties: Object.keys(properties).length ? properties : undefined,
      expiresAt: messageExpiryInterval !== undefined ? now + messageExpiryInterval * 1000 : undefined,
      publisher: clientId,
    });
  }
}

function timesOf({ clientId, expiryInterval, connectionId, disconnectedAt, will }: SessionState): SessionTimes {
  return { clientId, expiryInterval, connectionId, disconnectedAt, willAt: will?.at };
}

function expiresAt(state: Pick<SessionState, 'expiryInterval' | 'disconnectedAt'>): number {
  if (state.expiryInterval === NeverExpires || state.disconnectedAt === undefined) return Infinity;
  return state.disconnectedAt + state.expiryInterval * 1000;
}

/** QoS 2 message ids a session keeps to recognise copies sent again (SessionStore.recognise), all publishers together. */
export const recognisedIds = 65_536;

/** The most ids per publisher; MQTT_RECEIVE_MAXIMUM may not pass it in the sharded topology (Broker checks). */
export const recognisedWindow = 1024;

/** Payload a gateway keeps for all arriving clients together, in multiples of maxQueuedBytes (16 MiB by default). */
export const keptBytesFactor = 2;

/** Whether a message routed on either way has not arrived yet (each way arrives in order). */
function owes(routed: Routes, seen: Routes = [0, 0]): boolean {
  return routed[0] > seen[0] || routed[1] > seen[1];
}

/** A queued message's shard stamp (Message.stamp); one without comes last. */
function stampOf(entry: Pick<OutboundMessage, 'message'>): number {
  return entry.message.stamp ?? Number.MAX_SAFE_INTEGER;
}

const byStamp = (a: Pick<OutboundMessage, 'message'>, b: Pick<OutboundMessage, 'message'>): number => stampOf(a) - stampOf(b);

/** Where a session object keeps messages for a session it lent (they are not part of the copy). */
function lentKey(clientId: string): string {
  return `\u0000lent:${clientId}`;
}
