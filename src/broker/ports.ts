// The broker's only doors to the outside: a clock, the connection's link, the stores, and the
// fetch of an identity provider's JWKS. Stores are synchronous: the Durable Object's SQLite API
// is, and the memory reference is. Everything a wake-up or restart needs lives behind
// SessionStore and RetainedStore (and JwksStore, for the last good JWKS).
import type { RetainedBudget } from './retained-budget.ts';
import type { Properties, QoS, Subscription, Will } from '../protocol/index.ts';
import { propertiesSize } from '../protocol/properties.ts';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** One client connection's transport, as the broker sees it. */
export interface Link {
  /** One call per event: the broker coalesces the packets of one event into one write. */
  send(bytes: Uint8Array): void;
  close(): void;
  /** The client's address, when the transport knows it (throttling failed logins uses it). */
  readonly peer?: string;
}

/** An application message as the broker stores and routes it. */
export interface Message {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** Forwarded v5 properties (never topicAlias or subscriptionIdentifiers). */
  properties?: Properties;
  /** Absolute time (ms) from Message Expiry Interval [MQTT-3.3.2-5]. */
  expiresAt?: number;
  /** Client id of the publisher, for No Local [MQTT-3.8.3-3]. */
  publisher?: string;
  /**
   * Sharded topology, on the way to the owning shard: a QoS 1/2 publish that shard may refuse
   * (a rule's outbox is full: 0x97). Wills and `$SYS` are never refused.
   */
  refusable?: boolean;
  /**
   * Sharded topology: the topic shard's stamp, increasing per shard (ms x 1024 + a counter). One
   * topic's messages pass one shard in publish order, so a session whose messages came by two
   * paths during a claim is put back in that order [MQTT-4.6.0-6].
   */
  stamp?: number;
  /**
   * Sharded topology: a QoS 2 message's id, given by its publisher's gateway and recorded with its
   * packet id before it leaves; a resend after a restart goes again under the same id, and the
   * sessions it reached recognise the copy (SessionStore.recognise) [MQTT-4.3.3].
   */
  id?: number;
  /** Sharded topology: the message goes again under its id (its first copy may have arrived). */
  again?: boolean;
}

/**
 * What takes a copy of each message a topic shard accepts, in the same event (the rule engine,
 * src/rules): returns a reason code (0x97) to refuse a `refusable` QoS 1/2 publish, recording nothing.
 */
export interface PublishSink {
  accept(message: Message, from: { clientId?: string; username?: string } | undefined, refusable: boolean): number | undefined;
}

export interface StoredSubscription extends Subscription {
  /** v5 Subscription Identifier [MQTT-3.8.2.1.2]. */
  identifier?: number;
}

/** A pending will: kept with the session so a delay survives eviction and restart. */
export interface StoredWill extends Will {
  /** When to publish it (ms); unset while the client is connected. */
  at?: number;
}

export interface SessionState {
  clientId: string;
  /** Seconds; 0 ends the session with the connection, 0xFFFFFFFF never expires. */
  expiryInterval: number;
  /** The live connection's id, or unset while the client is away. */
  connectionId?: string;
  /** When the client went away (ms); the session expires expiryInterval after it. */
  disconnectedAt?: number;
  will?: StoredWill;
  /** The identity that owns the session (`identityOf`); unset: an anonymous client's, anyone's. */
  owner?: string;
}

/** A message queued for, or in flight to, one session. */
export interface OutboundMessage {
  /** Order of arrival; delivery follows it. */
  seq: number;
  /** qos is the delivery QoS after downgrade to the granted one. */
  message: Message;
  subscriptionIdentifiers?: number[];
  /** Set once sent. */
  packetId?: number;
  /** queued → sent → (QoS 2) released once PUBREC came back and PUBREL went out. */
  state: 'queued' | 'sent' | 'released';
}

/** What a wake needs of a session to reconcile it: its times, not its will's message. */
export type SessionTimes = Pick<SessionState, 'clientId' | 'expiryInterval' | 'connectionId' | 'disconnectedAt'> & {
  /** When its will is due (StoredWill.at). */
  willAt?: number;
};

/** An outbound message's place in its session's flow: what a session holds of it in memory. */
export interface OutboundPlace extends Pick<OutboundMessage, 'seq' | 'packetId' | 'state'> {
  qos: QoS;
  /** Payload bytes. */
  bytes: number;
  /** Its Message.stamp, when it has one. */
  stamp?: number;
}

export type OutboundChange = Required<Pick<OutboundMessage, 'seq' | 'packetId' | 'state'>>;

export interface SessionStore {
  get(clientId: string): SessionState | undefined;
  put(state: SessionState): void;
  /** Removes the session with its subscriptions, outbound messages and received QoS 2 ids. */
  delete(clientId: string): void;
  list(): SessionState[];
  /** Every session's times, read as iterated (a wake holds no will payloads). */
  times(): Iterable<SessionTimes>;
  /** Sessions that outlive their connection (Session Expiry Interval above 0), connected or away; a stored count, not a scan. */
  persistentCount(): number;
  /** Sessions with no connection (their client is away); a stored count, not a scan. */
  awayCount(): number;

  subscriptions(clientId: string): StoredSubscription[];
  /** Every client's, read as iterated (a wake builds its routing index from them without holding the rows). */
  allSubscriptions(): Iterable<[clientId: string, subscription: StoredSubscription]>;
  /** Insert or replace by topicFilter [MQTT-3.8.4-3]. */
  putSubscription(clientId: string, subscription: StoredSubscription): void;
  /** True when a subscription existed. */
  deleteSubscription(clientId: string, topicFilter: string): boolean;

  /** Appends; returns the seq given to the entry. */
  enqueue(clientId: string, entry: Omit<OutboundMessage, 'seq'>): number;
  /** Appends many, in order, in as few writes as the store allows; returns their seqs. */
  enqueueAll(clientId: string, entries: ReadonlyArray<Omit<OutboundMessage, 'seq'>>): number[];
  /** In seq order. */
  outbound(clientId: string): OutboundMessage[];
  /**
   * In seq order, those after seq `after`, as many as fit `maxBytes` counted by `outboundBytes`
   * (one at least); `more` tells whether any are left after them. Reads no more than it returns.
   */
  outboundPage(clientId: string, after: number, maxBytes: number): { outbound: OutboundMessage[]; more: boolean };
  /**
   * Where each outbound message is, without the message: in seq order, one light read. `stamps`:
   * with each message's Message.stamp (SQLite: a JSON field of each row, 3x the read's time).
   */
  outboundPlaces(clientId: string, stamps?: boolean): OutboundPlace[];
  /** The outbound messages of `seqs` still stored, in seq order: one read for a page of them. */
  outboundEntries(clientId: string, seqs: readonly number[]): OutboundMessage[];
  outboundCount(clientId: string): number;
  /** Outbound messages of every session, queued or in flight; a stored count, not a scan. */
  outboundTotal(): number;
  /** Sets packet id and state of many outbound messages at once (one write on SQLite). */
  updateOutbound(clientId: string, changes: readonly OutboundChange[]): void;
  /** Deletes many outbound messages at once (one write on SQLite); seqs not stored are ignored. */
  deleteOutbound(clientId: string, seqs: readonly number[]): void;
  /** Moves every outbound message of `from` to `to`, seqs kept (so in order among `to`'s); returns how many moved. */
  moveOutbound(from: string, to: string): number;

  /**
   * Received QoS 2 packet ids awaiting PUBREL [MQTT-4.3.3-9]. Sharded topology: with `routing`, the
   * message is on its way to its topic shard under that id (Message.id), not received yet; without,
   * received (a routing record becomes received).
   */
  addIncoming(clientId: string, packetId: number, routing?: number): void;
  /** Whether the packet id was received (a routing record is not). */
  hasIncoming(clientId: string, packetId: number): boolean;
  /** The received packet ids. */
  incoming(clientId: string): number[];
  /** The id a packet id's message was on its way under (addIncoming's `routing`), if it was. */
  routingId(clientId: string, packetId: number): number | undefined;
  /** Every routing record: [packet id, Message.id]. */
  routing(clientId: string): Array<[packetId: number, id: number]>;
  deleteIncoming(clientId: string, packetId: number): void;

  /**
   * Sharded topology: notes a QoS 2 message id (Message.id) delivered to this session, keeping the
   * last `bounds.window` ids per publisher, at `at` (ms), in the same write as the delivery; true,
   * noting nothing, when the id is among them already (a copy routed again after its publisher's
   * gateway restarted). Past `bounds.publishers` publishers, the one noted least recently is
   * forgotten. `again` (Message.again): an id not among them is noted as the oldest, so that it
   * does not push out the ids of other copies that may still come.
   */
  recognise(clientId: string, publisher: string, id: number, bounds: RecognisedBounds, at: number, again?: boolean): boolean;
  /** What `recognise` keeps of a session, per publisher: it moves with the session. */
  recognised(clientId: string): RecognisedIds[];
  /** Merges ids a session brought from another object into what is kept here, within `bounds`. */
  addRecognised(clientId: string, rows: readonly RecognisedIds[], bounds: RecognisedBounds): void;
}

/** QoS 2 message ids (Message.id) a session received from one publisher, oldest first, and when the last came (ms). */
export interface RecognisedIds {
  publisher: string;
  ids: number[];
  at: number;
}

/** How much SessionStore.recognise keeps per session: ids per publisher, and publishers. */
export interface RecognisedBounds {
  window: number;
  publishers: number;
}

/** `ids` with `id` noted: last, or first when it comes again (pushing none out; none noted if full). */
export function noteId(ids: readonly number[], id: number, window: number, again = false): number[] {
  if (!again) return mergeIds(ids, [id], window);
  return ids.length < window ? [id, ...ids] : [...ids];
}

/** Merges `more` into `ids`, in order, without repeats, keeping the last `window`. */
export function mergeIds(ids: readonly number[], more: readonly number[], window: number): number[] {
  const merged = [...new Set([...ids, ...more])];
  return merged.slice(Math.max(0, merged.length - window));
}

export type { RetainedBudget };

/** About how many bytes an outbound message takes in a call between objects (its payload, topic and the rest). */
export function outboundBytes(topicLength: number, payloadLength: number): number {
  return payloadLength + topicLength * 3 + 256;
}

/**
 * Bytes a message holds besides its topic: its payload and its MQTT 5 properties, which may be as
 * large as the packet (user properties, correlation data) [MQTT-3.3.2]. What queue bounds
 * (MQTT_MAX_QUEUED_BYTES, MQTT_MAX_QUEUED_BYTES_TOTAL) and pages count, so that a message of
 * empty payload and large properties is not counted as nothing.
 */
export function heldBytes(message: Pick<Message, 'payload' | 'properties'>): number {
  return message.payload.length + (message.properties ? propertiesSize(message.properties, 'publish') : 0);
}

/** About how many bytes an outbound message takes in a call between objects or in a page read from a store. */
export function entryBytes({ message }: Pick<OutboundMessage, 'message'>): number {
  return outboundBytes(message.topic.length, heldBytes(message));
}

export interface RetainedStore {
  get(topic: string): Message | undefined;
  /** Replaces any message retained on the same topic [MQTT-3.3.1-5]. */
  set(message: Message): void;
  delete(topic: string): void;
  /**
   * Every retained message whose topic matches the filter (wildcards, $-rule) [MQTT-3.3.1-9]; with
   * a budget, only as many as it allows, examining at most `budget.rows` stored messages.
   */
  match(filter: string, budget?: RetainedBudget): Message[];
  /** Stored messages; a stored count, not a scan. */
  count(): number;
  /** Payload bytes of the message retained on a topic, or undefined when none is. */
  size(topic: string): number | undefined;
  /** Messages retained and their payload bytes (reads every row: for a start, not per message). */
  usage(): { count: number; bytes: number };
}

/** A JWKS document as fetched, with how long its provider lets it be cached. */
export interface FetchedJwks {
  /** The response body: a JWKS document, as text. */
  body: string;
  /**
   * Seconds the response may be cached (Cache-Control max-age less Age, or Expires); 0 for
   * no-cache or no-store; undefined when the provider says nothing.
   */
  maxAge?: number;
}

/** Fetches a JWKS URL once (one subrequest); rejects on anything but a bounded 200 response in time. */
export type JwksFetch = (url: string) => Promise<FetchedJwks>;

/** The last good JWKS of a URL, kept across hibernation and restarts. */
export interface StoredJwks {
  body: string;
  /** When it was fetched and until when it is fresh (ms since the epoch). */
  fetchedAt: number;
  freshUntil: number;
}

export interface JwksStore {
  load(url: string): StoredJwks | undefined;
  save(url: string, jwks: StoredJwks): void;
}
