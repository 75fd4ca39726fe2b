// Topic shard role: the subscription index and the retained messages of (a slice of) the topic
// space. Routing aggregates a client's overlapping subscriptions into one delivery [MQTT-3.3.4-2]
// and gives each shared group's message to one member [MQTT-4.8.2-3].
import { parseSharedFilter } from '../../protocol/index.ts';
import type { Message, RetainedBudget, RetainedStore, StoredSubscription } from '../ports.ts';
import { pushTo } from '../multimap.ts';
import { TopicTrie } from '../topic-trie.ts';
import { RetainedQuota, type RetainedQuotaLimits } from '../retained-quota.ts';

const unlimited: RetainedQuotaLimits = { messages: Infinity, bytes: Infinity };

interface Entry {
  clientId: string;
  subscription: StoredSubscription;
  /** `group/filter` for shared subscriptions. */
  share?: string;
}

export interface Delivery {
  clientId: string;
  /** Highest granted QoS of the matching subscriptions. */
  qos: number;
  retainAsPublished: boolean;
  identifiers: number[];
  /** A shared subscription's delivery: its `group/filter` (a session's own copy is another delivery). */
  share?: string;
  /**
   * Sharded topology: the connection a session object passed this delivery on for (the claim it
   * lent the session to); a gateway keeps it for that claim only, or passes it back.
   */
  connectionId?: string;
}

/** Topics whose matches are remembered; publishers mostly repeat their topics. */
const matchCacheSize = 10_000;

export class TopicShard {
  private readonly trie = new TopicTrie<Entry>();
  private readonly turns = new Map<string, number>();
  /** topic → the trie's matches; forgotten whenever a subscription changes. */
  private readonly matchCache = new Map<string, Entry[]>();

  readonly retained: RetainedQuota;

  /** The most subscriptions this index takes (MQTT_MAX_SUBSCRIPTIONS); those stored load whatever it is. */
  private readonly maxSubscriptions: number;

  constructor(
    retained: RetainedStore, subscriptions: Iterable<[string, StoredSubscription]> = [], quota: RetainedQuotaLimits = unlimited,
    maxSubscriptions = Infinity,
  ) {
    this.retained = new RetainedQuota(retained, quota);
    this.maxSubscriptions = maxSubscriptions;
    for (const [clientId, sub] of subscriptions) this.add(clientId, sub, false);
  }

  /**
   * Registers a subscription, replacing the client's one on the same filter; false, and nothing
   * registered, when a new one would pass the quota (`checked`: a subscription already stored is not).
   */
  add(clientId: string, subscription: StoredSubscription, checked = true): boolean {
    const shared = parseSharedFilter(subscription.topicFilter);
    const filter = shared?.filter ?? subscription.topicFilter;
    const share = shared ? `${shared.group}/${shared.filter}` : undefined;
    const key = `${clientId}\u0000${subscription.topicFilter}`;
    if (checked && this.trie.size >= this.maxSubscriptions && !this.trie.has(filter, key)) return false;
    this.trie.add(filter, key, { clientId, subscription, share });
    this.matchCache.clear();
    return true;
  }

  remove(clientId: string, topicFilter: string): void {
    const filter = parseSharedFilter(topicFilter)?.filter ?? topicFilter;
    this.trie.remove(filter, `${clientId}\u0000${topicFilter}`);
    this.matchCache.clear();
  }

  private match(topic: string): Entry[] {
    let entries = this.matchCache.get(topic);
    if (entries) return entries;
    if (this.matchCache.size >= matchCacheSize) this.matchCache.clear();
    this.matchCache.set(topic, (entries = this.trie.match(topic)));
    return entries;
  }

  /** Subscriptions held, shared ones included. */
  get size(): number {
    return this.trie.size;
  }

  /** Whether any subscription matches the topic: lets $SYS skip figures nobody reads. */
  subscribed(topic: string): boolean {
    return this.trie.match(topic).length > 0;
  }

  /**
   * [MQTT-3.3.1-5..7] a retained message replaces the last; an empty payload clears it. False
   * when the namespace's retained quota refused it (the message is still routed).
   */
  retain(message: Message): boolean {
    if (message.payload.length === 0) return this.retained.delete(message.topic), true;
    return this.retained.set({ ...message, publisher: undefined, id: undefined });
  }

  /**
   * Retained messages matching a filter, as many as the budget allows (what it leaves out is
   * counted in it); expired ones are deleted instead [MQTT-3.3.2-5].
   */
  retainedMatching(filter: string, now: number, budget?: RetainedBudget): Message[] {
    const live: Message[] = [];
    for (const m of this.retained.match(filter, budget)) {
      if (m.expiresAt !== undefined && m.expiresAt <= now) this.retained.delete(m.topic);
      else live.push(m);
    }
    return live;
  }

  /**
   * Whether every message on `topic` from one publisher goes to the same sessions while the
   * subscriptions stay as they are: no shared subscription matches it (a group takes turns).
   */
  steady(topic: string): boolean {
    for (const entry of this.match(topic)) if (entry.share) return false;
    return true;
  }

  /** Who gets this message; shared groups prefer online members, taking turns. */
  route(message: Message, online: (clientId: string) => boolean): Delivery[] {
    const byClient = new Map<string, Delivery>();
    const groups = new Map<string, Entry[]>();
    for (const entry of this.match(message.topic)) {
      if (entry.share) {
        pushTo(groups, entry.share, entry);
      } else if (!(entry.subscription.noLocal && entry.clientId === message.publisher)) {
        merge(byClient, entry); // [MQTT-3.8.3-3] No Local
      }
    }
    const deliveries = [...byClient.values()];
    for (const [share, members] of groups) deliveries.push(toDelivery(message.id === undefined ? this.pick(share, members, online) : pinned(members, message.id)));
    return deliveries;
  }

  private pick(share: string, members: Entry[], online: (clientId: string) => boolean): Entry {
    const candidates = members.some((m) => online(m.clientId)) ? members.filter((m) => online(m.clientId)) : members;
    const turn = (this.turns.get(share) ?? 0) + 1;
    this.turns.set(share, turn);
    return candidates[turn % candidates.length];
  }
}

function toDelivery({ clientId, subscription: s, share }: Entry): Delivery {
  const d: Delivery = { clientId, qos: s.qos, retainAsPublished: !!s.retainAsPublished, identifiers: s.identifier ? [s.identifier] : [] };
  if (share !== undefined) d.share = share;
  return d;
}

/**
 * The member a QoS 2 message with an id (Message.id) goes to, online or not: the same for a copy
 * routed again after a restart while the group's members are the same, so that the copy reaches
 * the session that may have the first and is recognised there, not another member
 * [MQTT-4.8.2-4, -5].
 */
function pinned(members: Entry[], id: number): Entry {
  const sorted = [...members].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  return sorted[id % sorted.length];
}

function merge(byClient: Map<string, Delivery>, entry: Entry): void {
  const d = byClient.get(entry.clientId);
  if (!d) return void byClient.set(entry.clientId, toDelivery(entry));
  d.qos = Math.max(d.qos, entry.subscription.qos);
  d.retainAsPublished ||= !!entry.subscription.retainAsPublished;
  if (entry.subscription.identifier) d.identifiers.push(entry.subscription.identifier); // [MQTT-3.3.4-3]
}
