// The sharded topology in one Node process: gateways, topic shards and session objects, each on
// its own memory stores, wired by FabricCore over a directory whose calls go through a Scheduler.
// Promptly by default (ordinary tests just await); in random mode every call and every answer is
// one step, picked by a seeded PRNG, so a test can explore interleavings and replay one by seed.
import { Broker, defaultConfig, type BrokerConfig, type Hooks } from '../../src/broker/index.ts';
import { FabricCore, type Caller, type Directory, type Topology } from '../../src/broker/fabric-core.ts';
import { unpackMessages, unpackRouted, type PackedRouted } from '../../src/broker/packed.ts';
import type { Clock, Message, OutboundMessage, RetainedStore, SessionState, StoredSubscription } from '../../src/broker/ports.ts';
import { MemoryRetainedStore } from '../../src/broker/memory/memory-retained-store.ts';
import { MemorySessionStore } from '../../src/broker/memory/memory-session-store.ts';
import { observedBroker, type Observed } from '../../src/broker/observe/observed.ts';
import type { Counters } from '../../src/broker/observe/metrics.ts';
import { GatewayEndpoint, ShardEndpoint } from '../../src/broker/roles/endpoints.ts';
import { ShardHost, type Location } from '../../src/broker/roles/shard-host.ts';
import { SessionOwner } from '../../src/broker/roles/session-owner.ts';
import { MemoryAttachments } from '../../src/broker/memory/memory-attachments.ts';
import { sessionObjectOf, shardOfTopic } from '../../src/broker/shard-key.ts';

export type { Topology } from '../../src/broker/fabric-core.ts';

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Step {
  label: string;
  run: () => void;
}

/** Calls between objects, and their answers, as steps: run promptly, or one at a time in a seeded random order. */
export class Scheduler {
  /** Steps run so far. */
  steps = 0;
  /** The last steps run, for a failure's report. */
  readonly trace: string[] = [];
  /** Runs after every step (the world flushes its gateways). */
  afterStep: () => void = () => undefined;
  private readonly queue: Step[] = [];
  private readonly random?: () => number;
  private readonly manual: boolean;

  /**
   * With a random source, steps wait for step(); manual, they wait for step() or deliver(), in
   * order; else each runs in a macrotask of its own. An object's microtasks run to their end
   * before its next event, as in workerd: a caller of step() lets them (await a macrotask) before
   * the next step.
   */
  constructor(random?: () => number, manual = false) {
    this.random = random;
    this.manual = manual;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** What is pending, oldest first. */
  labels(): string[] {
    return this.queue.map((s) => s.label);
  }

  post(label: string, run: () => void): void {
    this.queue.push({ label, run });
    if (!this.random && !this.manual) setImmediate(() => void this.step());
  }

  /** Runs one pending step (random mode: any of them); false if there was none. */
  step(): boolean {
    if (!this.queue.length) return false;
    const i = this.random ? Math.floor(this.random() * this.queue.length) : 0;
    const [{ label, run }] = this.queue.splice(i, 1);
    this.steps++;
    this.trace.push(label);
    const keep = Math.max(400, Number(process.env.TRACE ?? 0));
    if (this.trace.length > keep) this.trace.splice(0, this.trace.length - keep / 2);
    run();
    this.afterStep();
    return true;
  }

  /** A crash of the whole namespace: the calls and answers on their way are lost; returns their labels. */
  lose(): string[] {
    return this.queue.splice(0).map((s) => s.label);
  }

  /** Manual mode: runs the first pending step whose label has `match`, then lets its object's microtasks run. */
  async deliver(match: string): Promise<void> {
    await macrotask();
    const i = this.queue.findIndex((s) => s.label.includes(match));
    if (i < 0) throw new Error(`no pending call matches "${match}"; pending: ${this.queue.map((s) => s.label).join('; ')}`);
    this.queue.unshift(...this.queue.splice(i, 1));
    this.step();
    await macrotask();
  }

  /** Manual mode: runs steps in order until one whose label has `match` ran (every step, if none). */
  async runUntil(match?: string): Promise<void> {
    for (;;) {
      await macrotask();
      const next = this.queue[0];
      if (!next) return;
      this.step();
      if (match !== undefined && next.label.includes(match)) return macrotask();
    }
  }

  /** Prompt mode: resolves once no step ran during a whole macrotask (everything that can run did). */
  async settle(): Promise<void> {
    for (let rounds = 0; rounds < 10_000; rounds++) {
      const before = this.steps;
      await macrotask();
      if (this.steps === before && !this.queue.length) return;
    }
    throw new Error('calls between objects never settled');
  }
}

export interface ShardedOptions {
  topology: Topology;
  clock: Clock;
  config?: Partial<BrokerConfig>;
  hooks?: Partial<Hooks>[];
  observe?: boolean;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  scheduler: Scheduler;
}

/** One object's stores: what survives its restart. */
interface GatewayStores { sessions: MemorySessionStore; retained: MemoryRetainedStore }
interface ShardStores { subscriptions: MemorySessionStore; retained: MemoryRetainedStore; locations: Map<string, Location> }
interface SessionStores { sessions: MemorySessionStore; attachments: MemoryAttachments }

/** A sharded namespace: every object of it, their stores, and the calls between them. */
export class ShardedNamespace {
  readonly topology: Topology;
  readonly scheduler: Scheduler;
  gateways: Broker[] = [];
  observed: Array<Observed | undefined> = [];
  shards: ShardHost[] = [];
  sessionObjects: Broker[] = [];
  readonly stores: { gateways: GatewayStores[]; shards: ShardStores[]; sessions: SessionStores[] };
  private readonly options: ShardedOptions;
  private shardEndpoints: ShardEndpoint[] = [];
  private gatewayEndpoints: GatewayEndpoint[] = [];
  private owners: SessionOwner[] = [];
  /** Starts so far: a restart loses what its objects had set to run later (a drain's next turn). */
  private starts = 0;

  constructor(options: ShardedOptions) {
    this.options = options;
    this.topology = options.topology;
    this.scheduler = options.scheduler;
    const { gateways, shards, sessions } = options.topology;
    this.stores = {
      gateways: Array.from({ length: gateways }, () => ({ sessions: new MemorySessionStore(), retained: new MemoryRetainedStore() })),
      shards: Array.from({ length: shards }, () => ({ subscriptions: new MemorySessionStore(), retained: new MemoryRetainedStore(), locations: new Map() })),
      sessions: Array.from({ length: sessions }, () => ({ sessions: new MemorySessionStore(), attachments: new MemoryAttachments() })),
    };
    this.scheduler.afterStep = () => this.flush();
    this.start();
  }

  /** Builds every object on its stores: at first, and as a restart of the whole namespace. */
  start(saved: Array<Partial<Counters> | undefined> = []): void {
    const { clock, config, log } = this.options;
    const started = ++this.starts;
    this.shards = this.stores.shards.map((s, i) => new ShardHost({
      retained: s.retained, subscriptions: s.subscriptions, clock,
      locations: { all: () => [...s.locations], set: (c, w) => void s.locations.set(c, w), delete: (c) => void s.locations.delete(c) },
      sessionObjectOf: (clientId) => sessionObjectOf(clientId, this.topology.sessions), config, shards: this.topology.shards,
    }));
    this.shardEndpoints = this.shards.map((host, i) => new ShardEndpoint(host, this.fabric({ role: 'shard', index: i })));
    this.owners = [];
    this.sessionObjects = this.stores.sessions.map((s, i) => {
      const fabric = this.fabric({ role: 'session', index: i });
      const broker = new Broker({ sessions: s.sessions, retained: new MemoryRetainedStore(), config, clock, remote: fabric, log });
      this.owners.push(new SessionOwner(broker, s.attachments, fabric, this.topology.sessions));
      broker.start(() => true); // as the session object does: a session here with a connection id is lent to its gateway
      return broker;
    });
    this.observed = [];
    this.gateways = this.stores.gateways.map((s, i) => {
      const options = {
        sessions: s.sessions, retained: s.retained, clock, config, hooks: this.options.hooks, log, remote: this.fabric({ role: 'gateway', index: i }),
        // a macrotask of the object, as setTimeout; lost if the namespace restarts meanwhile
        defer: (run: () => void) => this.scheduler.post(`gateway ${i}: a drain's next turn`, () => void (this.starts === started && run())),
      };
      const observed = this.options.observe ? observedBroker(options, saved[i]) : undefined;
      this.observed.push(observed);
      const broker = observed?.broker ?? new Broker(options);
      broker.start();
      return broker;
    });
    this.gatewayEndpoints = this.gateways.map((b) => new GatewayEndpoint(b));
  }

  /** Sends what every gateway's connections have waiting. */
  flush(): void {
    for (const g of this.gateways) g.flush();
  }

  /** Runs what is due on every object (their alarms). */
  tick(): void {
    for (const b of [...this.gateways, ...this.sessionObjects]) b.tick();
  }

  /** The messages each broker did not deliver, summed over the namespace. */
  dropped(reason: keyof Broker['stats']['dropped']): number {
    return [...this.gateways, ...this.sessionObjects].reduce((n, b) => n + b.stats.dropped[reason], 0);
  }

  /** Reads across the objects: a session from the gateway or session object holding it. */
  readonly sessions = {
    holder: (clientId: string): MemorySessionStore | undefined => {
      const all = [...this.stores.gateways.map((g) => g.sessions), ...this.stores.sessions.map((s) => s.sessions)];
      return all.find((s) => s.get(clientId)) ?? all.find((s) => s.subscriptions(clientId).length || s.outboundCount(clientId));
    },
    get: (clientId: string): SessionState | undefined => this.sessions.holder(clientId)?.get(clientId),
    list: (): SessionState[] => [...this.stores.gateways.map((g) => g.sessions), ...this.stores.sessions.map((s) => s.sessions)].flatMap((s) => s.list()),
    subscriptions: (clientId: string): StoredSubscription[] => this.sessions.holder(clientId)?.subscriptions(clientId) ?? [],
    outbound: (clientId: string): OutboundMessage[] => this.sessions.holder(clientId)?.outbound(clientId) ?? [],
    outboundCount: (clientId: string): number => this.sessions.holder(clientId)?.outboundCount(clientId) ?? 0,
    hasIncoming: (clientId: string, packetId: number): boolean => this.sessions.holder(clientId)?.hasIncoming(clientId, packetId) ?? false,
  };

  /** Reads across the shards: a topic's retained message from the shard owning it. */
  readonly retained: Pick<RetainedStore, 'get' | 'count'> = {
    get: (topic: string): Message | undefined => this.stores.shards[shardOfTopic(topic, this.topology.shards)].retained.get(topic),
    count: (): number => this.stores.shards.reduce((n, s) => n + s.retained.count(), 0),
  };

  private fabric(caller: Caller): FabricCore {
    const { config, log } = this.options;
    const timeout = config?.callTimeout ?? defaultConfig.callTimeout;
    return new FabricCore(this.directory(`${caller.role}${caller.index}`), this.topology, caller, { timeout, log: (m) => log('error', m) });
  }

  /** The objects as one caller reaches them: every call's arguments and answer are copied, as RPC does. */
  private directory(from: string): Directory {
    const call = <T>(label: string, work: () => Promise<T>) => this.call(`${from}→${label}`, work);
    return {
      shard: (i) => ({
        publish: (messages, where) => call(`shard${i}.publish ${unpackMessages(messages).map(describe).join(',')}`, () => this.shardEndpoints[i].publish(clone(messages), where)),
        subscribe: (clientId, where, subs, retained) => call(`shard${i}.subscribe ${clientId}@${where}`, () => this.shardEndpoints[i].subscribe(clientId, where, clone(subs), retained)),
        unsubscribe: (clientId, filters) => call(`shard${i}.unsubscribe ${clientId}`, () => this.shardEndpoints[i].unsubscribe(clientId, filters)),
        leave: (clientId, gateway) => call(`shard${i}.leave ${clientId}@${gateway}`, () => this.shardEndpoints[i].leave(clientId, gateway)),
      }),
      gateway: (i) => ({
        deliver: (batch) => call(`gateway${i}.deliver ${routed(batch)}`, () => this.gatewayEndpoints[i].deliver(clone(batch))),
        takeover: (clientId, connectionId) => call(`gateway${i}.takeover ${clientId}/${connectionId}`, () => this.gatewayEndpoints[i].takeover(clientId, connectionId)),
      }),
      session: (i) => ({
        attach: (clientId, gateway, connectionId, owner, persistent) => call(`session${i}.attach ${clientId}/${connectionId}`, () => this.owners[i].attach(clientId, gateway, connectionId, owner, persistent)),
        page: (clientId, connectionId, after) => call(`session${i}.page ${clientId}/${connectionId}`, async () => this.owners[i].page(clientId, connectionId, after)),
        abandon: (clientId, connectionId) => call(`session${i}.abandon ${clientId}/${connectionId}`, () => this.owners[i].abandon(clientId, connectionId)),
        stage: (clientId, connectionId, outbound, first) => call(`session${i}.stage ${clientId}/${connectionId}`, async () => this.owners[i].stage(clientId, connectionId, clone(outbound), first)),
        detach: (clientId, connectionId, session, staged) => call(`session${i}.detach ${clientId}/${connectionId}`, () => this.owners[i].detach(clientId, connectionId, clone(session), staged)),
        enqueue: (batch, where) => call(`session${i}.enqueue ${routed(batch)}`, () => this.owners[i].enqueue(clone(batch), where)),
      }),
    };
  }

  /** One call: a step that starts it on the target, and a step that brings its answer (or failure) back. */
  private call<T>(label: string, work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.scheduler.post(label, () => {
        let running: Promise<T>;
        try {
          running = work();
        } catch (err) {
          running = Promise.reject(err);
        }
        running.then(
          (value) => this.scheduler.post(`${label} answered`, () => resolve(clone(value))),
          (err: unknown) => this.scheduler.post(`${label} failed`, () => reject(err)),
        );
      });
    });
  }
}

/** A message in a trace: its topic, and its payload when short text. */
function describe(m: Message): string {
  const text = m.payload.length <= 24 ? new TextDecoder().decode(m.payload) : '';
  return /^[\x20-\x7e]+$/.test(text) ? `${m.topic}=${text}` : m.topic;
}

const routed = (batch: PackedRouted): string => unpackRouted(batch).map((r) => `${describe(r.message)}→${r.deliveries.map((d) => d.clientId).join('+')}`).join(',');

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

const clone = <T>(value: T): T => (value === undefined ? value : structuredClone(value));
