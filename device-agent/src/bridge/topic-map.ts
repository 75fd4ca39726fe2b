// mosquitto's bridge `topic` lines as a pure map: which filters to subscribe to on each side, and
// how a topic is renamed on its way across (local prefix <-> remote prefix). The loop guard
// recognises the agent's own messages coming back on a 3.x link (v5 links use No Local instead).
import type { QoS, Subscription } from '../codec.ts';
import { matches } from '../topic-match.ts';

export type Direction = 'in' | 'out' | 'both';
export type Side = 'local' | 'remote';

export interface TopicLine {
  pattern: string;
  direction: Direction;
  qos: QoS;
  localPrefix: string;
  remotePrefix: string;
}

const carries = (l: TopicLine, from: Side): boolean => l.direction === 'both' || l.direction === (from === 'local' ? 'out' : 'in');

export class TopicMap {
  constructor(readonly lines: TopicLine[]) {}

  /** Filters to subscribe to on `side`: messages from there cross to the other side. */
  subscriptions(side: Side): Subscription[] {
    const seen = new Map<string, Subscription>();
    for (const l of this.lines.filter((x) => carries(x, side))) {
      const topicFilter = (side === 'local' ? l.localPrefix : l.remotePrefix) + l.pattern;
      const had = seen.get(topicFilter);
      if (!had || had.qos < l.qos) seen.set(topicFilter, { topicFilter, qos: l.qos });
    }
    return [...seen.values()];
  }

  /** The topic on the other side for a message from `from`, or undefined if no line carries it. */
  translate(from: Side, topic: string): string | undefined {
    for (const l of this.lines) {
      if (!carries(l, from)) continue;
      const [fromPrefix, toPrefix] = from === 'local' ? [l.localPrefix, l.remotePrefix] : [l.remotePrefix, l.localPrefix];
      if (matches(fromPrefix + l.pattern, topic)) return toPrefix + topic.slice(fromPrefix.length);
    }
    return undefined;
  }

  /** Whether a message published on `side` comes back to us through our own subscriptions there. */
  echoes(side: Side, topic: string): boolean {
    return this.subscriptions(side).some((s) => matches(s.topicFilter, topic));
  }
}

/**
 * Remembers messages the agent published on each side; the first matching message that comes
 * back from that side within `ttlMs` is our echo and is not carried across again.
 */
export class LoopGuard {
  private expected = new Map<string, number[]>();

  constructor(private readonly ttlMs = 30_000, private readonly now: () => number = Date.now) {}

  published(side: Side, topic: string, payload: Uint8Array): void {
    const key = fingerprint(side, topic, payload);
    const list = this.expected.get(key) ?? [];
    list.push(this.now() + this.ttlMs);
    this.expected.set(key, list);
    if (this.expected.size > 10_000) this.sweep();
  }

  /** True (and forgotten) if this arrival from `side` is one we published there. */
  isEcho(side: Side, topic: string, payload: Uint8Array): boolean {
    const key = fingerprint(side, topic, payload);
    const list = this.expected.get(key);
    if (!list) return false;
    const now = this.now();
    while (list.length > 0 && list[0] < now) list.shift();
    const hit = list.shift() !== undefined;
    if (list.length === 0) this.expected.delete(key);
    return hit;
  }

  get size(): number {
    return this.expected.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, list] of this.expected) if (list[list.length - 1] < now) this.expected.delete(key);
  }
}

function fingerprint(side: Side, topic: string, payload: Uint8Array): string {
  let h = 0x811c9dc5; // FNV-1a over the payload
  for (let i = 0; i < payload.length; i++) h = Math.imul(h ^ payload[i], 0x01000193);
  return `${side}\u0000${topic}\u0000${payload.length}\u0000${h >>> 0}`;
}
