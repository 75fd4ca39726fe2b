// The sharded topology as a role sees it: what a gateway or a session object asks of the objects
// that own the other roles. In the default topology there is no Remote and the roles call each
// other in-process; with one, subscriptions, retained messages and routing belong to topic-shard
// objects, and a persistent session that is away belongs to its session object.
import { entryBytes, type Message, type OutboundMessage, type RecognisedIds, type SessionState, type StoredSubscription } from './ports.ts';
import type { Delivery } from './roles/topic-shard.ts';
import type { Routes } from './roles/shard-host.ts';
import type { PackedAnswers } from './packed.ts';

/** One message and who, among one target's sessions, gets it. */
export interface Routed {
  message: Message;
  deliveries: Delivery[];
}

/** A session moving between a gateway (client connected) and its session object (client away). */
export interface SessionExport {
  state: SessionState;
  subscriptions: StoredSubscription[];
  outbound: OutboundMessage[];
  incoming: number[];
  /** Sharded: QoS 2 packet ids whose message was on its way to its shard when a restart came, with its Message.id. */
  routing?: Array<[packetId: number, id: number]>;
  /** Sharded: the QoS 2 message ids it received, per publisher (SessionStore.recognise). */
  recognised?: RecognisedIds[];
  /** Set when `outbound` is its first page only: the rest follows in pages (SessionLink.attach). */
  more?: boolean;
}

/**
 * The most outbound message bytes one call between objects carries when a session moves: well
 * under the 32 MiB a Durable Object RPC call may carry
 * (https://developers.cloudflare.com/durable-objects/platform/limits/), with room for topics,
 * properties and the rest of the session.
 */
export const pageBytes = 8 * 1024 * 1024;


/** Splits outbound messages, in order, into pages of at most `max` bytes (one message at least). */
export function paged(outbound: OutboundMessage[], max = pageBytes): OutboundMessage[][] {
  const pages: OutboundMessage[][] = [[]];
  let bytes = 0;
  for (const entry of outbound) {
    const size = entryBytes(entry);
    if (bytes + size > max && pages[pages.length - 1].length) {
      pages.push([]);
      bytes = 0;
    }
    pages[pages.length - 1].push(entry);
    bytes += size;
  }
  return pages;
}

/**
 * Per subscription of a subscribe: the retained messages asked for, or null when the routing index
 * is full (MQTT_MAX_SUBSCRIPTIONS) and the subscription was not taken.
 */
export type Subscribed = Array<Message[] | null>;

/** A shard's answer to a publish. */
export interface Accepted {
  /** Sessions the message reached. */
  reached: number;
  /** Deliveries to sessions on the caller's own gateway: they ride the answer instead of a call. */
  here: Delivery[];
  /** Set when the shard refused the message (0x97: a rule's outbox is full): it went nowhere. */
  refused?: number;
  /** Set when the shard's retained quota refused to keep the message (it was routed all the same). */
  notRetained?: true;
}

export interface ShardLink {
  /** Hands a message to the shard owning its topic; resolves once the shard accepted it. */
  publish(message: Message): Promise<Accepted>;
  /**
   * `publish` for a QoS 0 message nobody waits on (a client's): it rides the next call to its
   * shard with no promise of its own; a call that fails is logged with the count it lost.
   */
  post(message: Message): void;
  /**
   * Gateways: takes each answered call's deliveries for this gateway's own sessions (they ride the
   * answer), and counts what was not retained, before the call's publishes resolve (Broker sets it).
   */
  answered?: (messages: Message[], answers: PackedAnswers) => Promise<void> | undefined;
  /**
   * Registers a client's subscriptions on every shard they touch, with where the caller is (its
   * gateway, or the session object for a session that is away); resolves, per subscription, with
   * the retained messages matching it when `retained` asks for them, from every shard; null for
   * one a shard's index had no room for (then no shard keeps it).
   */
  subscribe(clientId: string, subscriptions: StoredSubscription[], retained: boolean[]): Promise<Subscribed>;
  unsubscribe(clientId: string, topicFilters: string[]): Promise<void>;
  /**
   * Gateways: a client's connection here ended and its session is about to leave. Its messages
   * go to its session object from now on, on every shard its subscriptions touch; resolves, per
   * shard, with the stamp of the last message that shard routed to it here (0: none).
   */
  leave(clientId: string, topicFilters: string[]): Promise<Map<number, Routes>>;
  /** The shard owning a topic. */
  shardOf(topic: string): number;
}

export interface SessionLink {
  /**
   * Claims a client id for a connection of `owner` (identityOf; undefined: anonymous): any other
   * connection with it, on any gateway, is taken over; resolves with the session it had, whole
   * (it travels in pages). The session object keeps its copy until the gateway hands the session
   * back, so a claim that fails loses nothing. Rejects with `notOwner()` when the client id holds
   * another identity's session, and with `persistentQuotaExceeded()` when `persistent` (the
   * connection's session outlives it) asks for a new persistent session past the session object's
   * share of the quota; either refusal takes nothing over and claims nothing.
   */
  attach(clientId: string, connectionId: string, owner: string | undefined, persistent: boolean): Promise<SessionExport | undefined>;
  /** A claim that failed after the session object answered it: the session is away again. */
  abandon(clientId: string, connectionId: string): Promise<void>;
  /** A connection ended; a session that outlives it is handed over, in pages (undefined: nothing outlives it). */
  detach(clientId: string, connectionId: string, session: SessionExport | undefined): Promise<void>;
  /** Messages for sessions no longer on this gateway: to their session objects. */
  forward(batch: Routed[]): Promise<unknown>;
}

export interface Remote {
  shards: ShardLink;
  /** Only gateways have it: a session object is where sessions go. */
  sessions?: SessionLink;
  /** Calls from this object that missed their deadline, by kind (fabric-core.ts). */
  readonly timeouts?: Readonly<Record<string, number>>;
}
