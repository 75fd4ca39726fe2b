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

let connections = 0;

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

  constructor(world: World, version: ProtocolVersion) {
    this.world = world;
    this.version = version;
    this.decoder = new Decoder({ protocolVersion: version });
    this.conn = world.broker.gateway.open(`c${++connections}`, {
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
    await this.conn.receive(bytes);
    this.world.broker.flush();
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
  drop(): void {
    this.conn.lost();
    this.closed = true;
    this.world.broker.flush();
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
}

export class World {
  readonly clock = new ManualClock();
  readonly sessions = new MemorySessionStore();
  readonly retained = new MemoryRetainedStore();
  readonly logs: string[] = [];
  broker: Broker;
  /** With `observe`: the broker's counters, $SYS and taps. */
  observed?: Observed;

  /** The address every client appears to come from. */
  readonly peer?: string;
  private readonly options: WorldOptions;

  constructor(options: WorldOptions = {}) {
    this.options = options;
    this.peer = options.peer;
    this.broker = this.make();
  }

  private make(saved?: Partial<Counters>): Broker {
    const options = {
      sessions: this.sessions, retained: this.retained, clock: this.clock, config: this.options.config,
      hooks: this.options.hooks, log: (level: string, message: string) => void this.logs.push(`${level}: ${message}`),
    };
    if (this.options.observe) this.observed = observedBroker(options, saved);
    const broker = this.observed?.broker ?? new Broker(options);
    broker.start();
    return broker;
  }

  /** A server restart: every connection is gone, the stores (and, observed, the saved counters) remain. */
  restart(): void {
    this.broker = this.make(this.observed && structuredClone(this.observed.metrics.counters));
  }

  client(version: ProtocolVersion = 4): VirtualClient {
    return new VirtualClient(this, version);
  }

  /** Connects and returns the client with its CONNACK consumed (and checked to be a success). */
  async connect(opts: ConnectOptions = {}): Promise<VirtualClient> {
    const c = this.client(opts.version ?? 4);
    await c.send(connectPacket(opts));
    const connack = c.next('connack');
    if (connack.reasonCode !== 0) throw new Error(`connect refused: ${connack.reasonCode}`);
    return c;
  }

  advance(ms: number): void {
    this.clock.advance(ms);
    this.broker.tick();
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
