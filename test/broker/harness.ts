// A virtual client that speaks packets to a Broker on memory stores and a manual clock, with no
// sockets (aedes' test helper). Bytes go through the real codec both ways.
import {
  Decoder, encode, type ConnectPacket, type Packet, type ProtocolVersion, type Properties, type PublishPacket,
  type Subscription, type Will,
} from '../../src/protocol/index.ts';
import { Broker, type BrokerConfig, type Hooks } from '../../src/broker/index.ts';
import type { Connection } from '../../src/broker/connection.ts';
import { ManualClock } from '../../src/broker/memory/manual-clock.ts';
import { MemoryRetainedStore } from '../../src/broker/memory/memory-retained-store.ts';
import { MemorySessionStore } from '../../src/broker/memory/memory-session-store.ts';
import { observedBroker, type Observed } from '../../src/broker/observe/observed.ts';
import type { Counters } from '../../src/broker/observe/metrics.ts';
import type { RetainedStore } from '../../src/broker/ports.ts';
import { prng, Scheduler, ShardedNamespace, type Topology } from './sharded-world.ts';

export interface ConnectOptions {
  version?: ProtocolVersion;
  clientId?: string;
  clean?: boolean;
  keepalive?: number;
  username?: string;
  password?: string;
  will?: Will;
  properties?: Properties;
}

/** The packet of one type ('puback' picks AckPacket although its `type` is a union). */
export type PacketOf<T extends Packet['type']> = Packet & { type: T };

export class VirtualClient {
  readonly received: Packet[] = [];
  /** Size of each message the broker wrote. */
  readonly frames: number[] = [];
  closed = false;
  readonly conn: Connection;
  readonly version: ProtocolVersion;
  private readonly world: World;
  private readonly decoder: Decoder;

  constructor(world: World, version: ProtocolVersion, gateway?: number) {
    this.world = world;
    this.version = version;
    this.decoder = new Decoder({ protocolVersion: version });
    this.conn = world.gateway(gateway).gateway.open(`c${++world.connections}`, {
      send: (bytes) => {
        this.frames.push(bytes.length);
        this.decoder.push(bytes);
        for (let p = this.decoder.next(); p; p = this.decoder.next()) this.received.push(p);
      },
      close: () => void (this.closed = true),
      peer: world.peer,
    });
  }

  async send(packet: Packet): Promise<void> {
    await this.sendBytes(encode(packet, this.version));
  }

  async sendBytes(bytes: Uint8Array): Promise<void> {
    await this.world.until(this.conn.receive(bytes), `${this.conn.id} handling its packets`);
    await this.world.settle();
  }

  /** The next packet the broker sent, or a failure naming what was expected. */
  next<T extends Packet['type']>(type?: T): PacketOf<T> {
    const packet = this.received.shift();
    if (!packet) throw new Error(`expected ${type ?? 'a packet'}, got nothing`);
    if (type && packet.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(packet)}`);
    return packet as PacketOf<T>;
  }

  expectNothing(): void {
    if (this.received.length) throw new Error(`expected nothing, got ${JSON.stringify(this.received[0])}`);
  }

  /** The transport drops without DISCONNECT. */
  async drop(): Promise<void> {
    this.conn.lost();
    this.closed = true;
    await this.world.settle();
  }

  async publish(topic: string, payload: string, opts: Partial<Omit<PublishPacket, 'type' | 'topic' | 'payload'>> = {}): Promise<void> {
    const qos = opts.qos ?? 0;
    await this.send({
      type: 'publish', topic, payload: text(payload), qos, retain: opts.retain ?? false, dup: opts.dup ?? false,
      packetId: qos ? (opts.packetId ?? 1) : undefined, properties: opts.properties,
    });
  }

  async subscribe(topicFilter: string, qos: 0 | 1 | 2 = 0, extra: Partial<Subscription> = {}, properties?: Properties): Promise<number[]> {
    await this.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter, qos, ...extra }], properties });
    return this.next('suback').reasonCodes;
  }
}

export interface WorldOptions {
  config?: Partial<BrokerConfig>;
  hooks?: Partial<Hooks>[];
  /** Build the broker with its observers (counters, $SYS, taps), as the edge does. */
  observe?: boolean;
  peer?: string;
  /**
   * Gateways, topic shards and session objects apart (sharded-world.ts); default from the
   * BROKER_TOPOLOGY variable (`<gateways>,<shards>,<sessions>`), else every role in one broker.
   */
  topology?: Topology;
  /** Sharded: a seeded random order of the calls between objects, run by `w.sharded.scheduler.step()`. */
  seed?: number;
  /** Sharded: the calls between objects wait for `w.sharded.scheduler` (deliver, runUntil), in order. */
  manual?: boolean;
  /** Default topology: a drain's later turns (Broker.defer) wait for `w.turn()` instead of running at each settle. */
  holdTurns?: boolean;
}

/** The topology the unit suite runs on: BROKER_TOPOLOGY=2,2,2 runs it sharded (vitest project unit-sharded). */
function topologyFromEnv(): Topology | undefined {
  const raw = process.env.BROKER_TOPOLOGY;
  if (!raw) return undefined;
  const [gateways, shards, sessions] = raw.split(',').map(Number);
  return { gateways, shards, sessions: sessions ?? shards };
}

/** Whether this run's worlds are sharded: the few tests that cannot hold there skip, saying why. */
export const sharded = isSharded(topologyFromEnv());

function isSharded(t: Topology | undefined): t is Topology {
  return !!t && (t.gateways > 1 || t.shards > 1);
}

/** What tests read of the stores: the one broker's, or across a sharded namespace's objects. */
type SessionReads = Pick<MemorySessionStore, 'get' | 'list' | 'subscriptions' | 'outbound' | 'outboundCount' | 'hasIncoming'>;

export class World {
  readonly clock = new ManualClock();
  readonly sessions: SessionReads;
  readonly retained: Pick<RetainedStore, 'get' | 'count'>;
  readonly logs: string[] = [];
  /** The broker; sharded: gateway 0's. */
  broker: Broker;
  /** With `observe`: the broker's counters, $SYS and taps (sharded: gateway 0's). */
  observed?: Observed;
  /** The sharded namespace, when the world has one. */
  readonly sharded?: ShardedNamespace;

  /** The address every client appears to come from. */
  readonly peer?: string;
  private readonly options: WorldOptions;
  /** Default topology: the one broker's own stores, whole (a sharded world's are spread over its objects). */
  readonly stores = { sessions: new MemorySessionStore(), retained: new MemoryRetainedStore() };
  /** Connections opened so far: their ids are c1, c2, … in each world, so a replay names them alike. */
  connections = 0;
  /** Sharded: the gateway the next client opens on (round robin, so clients meet across gateways). */
  private placed = 0;
  /** Default topology: later turns the broker asked for (Broker.defer), oldest first. */
  private readonly turns: Array<() => void> = [];

  constructor(options: WorldOptions = {}) {
    this.options = options;
    this.peer = options.peer;
    const topology = options.topology ?? topologyFromEnv();
    if (isSharded(topology)) {
      this.sharded = new ShardedNamespace({
        topology, clock: this.clock, config: options.config, hooks: options.hooks, observe: options.observe,
        log: this.log, scheduler: new Scheduler(options.seed === undefined ? undefined : prng(options.seed), options.manual),
      });
      this.sessions = this.sharded.sessions;
      this.retained = this.sharded.retained;
      this.broker = this.sharded.gateways[0];
      this.observed = this.sharded.observed[0];
    } else {
      this.sessions = this.stores.sessions;
      this.retained = this.stores.retained;
      this.broker = this.make();
    }
  }

  private readonly log = (level: string, message: string): void => void this.logs.push(`${level}: ${message}`);

  private make(saved?: Partial<Counters>): Broker {
    const options = {
      sessions: this.stores.sessions, retained: this.stores.retained, clock: this.clock, config: this.options.config,
      hooks: this.options.hooks, log: this.log, defer: (run: () => void) => void this.turns.push(run),
    };
    if (this.options.observe) this.observed = observedBroker(options, saved);
    const broker = this.observed?.broker ?? new Broker(options);
    broker.start();
    return broker;
  }

  /**
   * The broker of a gateway: the given one, or (sharded) the next in turn; an observed world's
   * clients all go to gateway 0, since counters, $SYS and taps belong to each gateway.
   */
  gateway(index?: number): Broker {
    if (!this.sharded) return this.broker;
    const gateways = this.sharded.gateways;
    return gateways[index ?? (this.options.observe ? 0 : this.placed++ % gateways.length)];
  }

  /** A server restart: every connection is gone, the stores (and, observed, the saved counters) remain. */
  async restart(): Promise<void> {
    if (this.sharded) {
      this.sharded.start(this.sharded.observed.map((o) => o && structuredClone(o.metrics.counters)));
      [this.broker, this.observed] = [this.sharded.gateways[0], this.sharded.observed[0]];
    } else {
      this.turns.length = 0; // a restart loses the old broker's timers
      this.broker = this.make(this.observed && structuredClone(this.observed.metrics.counters));
    }
    await this.settle();
  }

  /** Lets every call between objects finish (sharded, prompt mode), then sends what they produced. */
  async settle(): Promise<void> {
    if (this.prompt) await this.sharded!.scheduler.settle();
    this.sharded?.flush();
    this.broker.flush();
    while (!this.options.holdTurns && this.turn());
  }

  /** Default topology: runs the oldest later turn the broker asked for (a drain's next step); false if none. */
  turn(): boolean {
    const run = this.turns.shift();
    run?.();
    return !!run;
  }

  /**
   * Sharded, prompt mode: `work`, or a failure naming it when it still waits a second after every
   * call between objects ran out (a deadlock), instead of a test that hangs until its timeout.
   * The second lets other work end (hashing a password, a JWKS fetch).
   */
  async until<T>(work: Promise<T>, what: string): Promise<T> {
    if (!this.prompt) return work;
    const scheduler = this.sharded!.scheduler;
    let done = false;
    const watched = work.finally(() => void (done = true));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = (async () => {
      for (;;) {
        await scheduler.settle();
        const steps = scheduler.steps;
        await Promise.race([watched, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
        clearTimeout(timer);
        if (done) return;
        if (scheduler.steps === steps && !scheduler.pending) throw new Error(`stuck: ${what} waits, and no call between objects is left to run`);
      }
    })();
    await Promise.race([watched, stuck]);
    return watched;
  }

  /** Sharded, with the calls between objects run as they come (neither seeded nor manual). */
  private get prompt(): boolean {
    return !!this.sharded && this.options.seed === undefined && !this.options.manual;
  }

  /** Messages not delivered for a reason, over every broker of the world. */
  dropped(reason: keyof Broker['stats']['dropped']): number {
    return this.sharded ? this.sharded.dropped(reason) : this.broker.stats.dropped[reason];
  }

  client(version: ProtocolVersion = 4, gateway?: number): VirtualClient {
    return new VirtualClient(this, version, gateway);
  }

  /**
   * Connects and returns the client with its CONNACK consumed (and checked to be a success). In
   * manual mode every call between objects runs, in order, until none is left (`settled`).
   */
  async connect(opts: ConnectOptions & { gateway?: number } = {}): Promise<VirtualClient> {
    const c = this.client(opts.version ?? 4, opts.gateway);
    await this.settled(c.send(connectPacket(opts)));
    const connack = c.next('connack');
    if (connack.reasonCode !== 0) throw new Error(`connect refused: ${connack.reasonCode}`);
    return c;
  }

  /** Manual mode: `work`, once every call between objects pending (its own among them) ran, in order. */
  async settled<T>(work: Promise<T>): Promise<T> {
    if (this.options.manual) await this.sharded!.scheduler.runUntil();
    return work;
  }

  /** Moves the clock and runs what came due on every object. */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    if (this.sharded) this.sharded.tick();
    else this.broker.tick();
    await this.settle();
  }
}

export function connectPacket(opts: ConnectOptions = {}): ConnectPacket {
  const version = opts.version ?? 4;
  return {
    type: 'connect', protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version,
    clean: opts.clean ?? true, keepalive: opts.keepalive ?? 0, clientId: opts.clientId ?? 'client',
    username: opts.username, password: opts.password === undefined ? undefined : text(opts.password),
    will: opts.will, properties: opts.properties,
  };
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
