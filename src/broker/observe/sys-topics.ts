// $SYS: the broker's own figures under Mosquitto's names, as retained messages. Nothing is
// stored: a new subscriber gets the figures of the moment, and live subscribers get changed
// figures at most once per sysInterval, only when the object is awake anyway (the transport calls
// refresh() at the end of events, never on a timer), so $SYS never keeps an idle broker awake.
import { ReasonCode } from '../../protocol/index.ts';
import type { Broker } from '../broker.ts';
import type { Hooks } from '../hooks.ts';
import type { Message } from '../ports.ts';
import { isSys, matches } from '../topic-match.ts';
import { brokerName, brokerVersion } from '../version.ts';
import * as gauge from './gauges.ts';
import type { Counters } from './metrics.ts';

type Figure = (broker: Broker, counters: Counters, now: number) => string | number;

const droppedTotal = (c: Counters): number => Object.values(c.dropped).reduce((a, b) => a + b, 0);

/** Mosquitto's $SYS names, where this broker has the figure. */
export const sysTable: ReadonlyArray<readonly [topic: string, figure: Figure]> = [
  ['$SYS/broker/version', () => `${brokerName} version ${brokerVersion}`],
  ['$SYS/broker/uptime', (_b, c, now) => `${Math.floor((now - c.since) / 1000)} seconds`],
  ['$SYS/broker/clients/connected', (b) => gauge.connectedClients(b)],
  ['$SYS/broker/clients/disconnected', (b) => gauge.disconnectedClients(b)],
  ['$SYS/broker/clients/total', (b) => gauge.connectedClients(b) + gauge.disconnectedClients(b)],
  ['$SYS/broker/clients/maximum', (_b, c) => c.maxConnected],
  ['$SYS/broker/messages/received', (_b, c) => c.received.packets],
  ['$SYS/broker/messages/sent', (_b, c) => c.sent.packets],
  ['$SYS/broker/publish/messages/received', (_b, c) => c.received.publishes],
  ['$SYS/broker/publish/messages/sent', (_b, c) => c.sent.publishes],
  ['$SYS/broker/publish/messages/dropped', (_b, c) => droppedTotal(c)],
  ['$SYS/broker/bytes/received', (_b, c) => c.received.bytes],
  ['$SYS/broker/bytes/sent', (_b, c) => c.sent.bytes],
  ['$SYS/broker/retained messages/count', (b) => gauge.retainedCount(b)],
  ['$SYS/broker/subscriptions/count', (b) => gauge.subscriptionCount(b)],
  ['$SYS/broker/store/messages/count', (b) => gauge.queuedMessages(b)],
];

export { isSys } from '../topic-match.ts';

const utf8 = new TextEncoder();
const sysMessage = (topic: string, value: string): Message => ({ topic, payload: utf8.encode(value), qos: 0, retain: true });

export class SysTopics {
  /** Only the broker writes into $SYS. */
  readonly hooks: Partial<Hooks> = {
    authorizePublish: (_client, packet) => (isSys(packet.topic) ? ReasonCode.NotAuthorized : undefined),
  };

  private readonly broker: Broker;
  private readonly counters: Counters;
  /** Mosquitto's figures, then the host's own (the edge adds its billed units). */
  private readonly fixed: ReadonlyArray<readonly [topic: string, figure: Figure]>;
  /** Figures whose topics come and go (per rule), asked for when read. */
  private readonly more?: () => ReadonlyArray<readonly [topic: string, value: string | number]>;
  /** What live subscribers were last sent, by topic. */
  private readonly sent = new Map<string, string>();
  private refreshedAt?: number;

  constructor(
    broker: Broker, counters: Counters, extra: ReadonlyArray<readonly [topic: string, figure: () => string | number]> = [],
    more?: () => ReadonlyArray<readonly [topic: string, value: string | number]>,
  ) {
    this.broker = broker;
    this.counters = counters;
    this.fixed = [...sysTable, ...extra.map(([topic, figure]) => [topic, () => figure()] as const)];
    this.more = more;
  }

  private get table(): ReadonlyArray<readonly [topic: string, figure: Figure]> {
    if (!this.more) return this.fixed;
    return [...this.fixed, ...this.more().map(([topic, value]) => [topic, () => value] as const)];
  }

  private get enabled(): boolean {
    return this.broker.config.sysInterval > 0;
  }

  /** The $SYS messages matching a filter, with the figures of the moment: the retained look-up. */
  retained(filter: string): Message[] {
    if (!this.enabled) return [];
    const now = this.broker.clock.now();
    return this.table.filter(([topic]) => matches(filter, topic))
      .map(([topic, figure]) => sysMessage(topic, String(figure(this.broker, this.counters, now))));
  }

  /** Publishes the figures that changed and that someone subscribes to, at most once per interval. */
  refresh(): void {
    const now = this.broker.clock.now();
    if (!this.enabled || (this.refreshedAt !== undefined && now - this.refreshedAt < this.broker.config.sysInterval * 1000)) return;
    this.refreshedAt = now;
    for (const [topic, figure] of this.table) {
      if (!this.broker.shard.subscribed(topic)) continue;
      const value = String(figure(this.broker, this.counters, now));
      if (this.sent.get(topic) === value) continue;
      this.sent.set(topic, value);
      this.broker.publish(sysMessage(topic, value));
    }
  }
}
