// Batches of messages in the form a call between objects carries them. An RPC call copies its
// arguments with the structured clone algorithm, which writes every object's property names
// and builds every object again on the other side: for a 64-byte message that was about 1.7 µs a
// hop, more than the rest of the hop's work. Packed, a batch is a few objects whatever its size:
// its payloads in one buffer, its topics and publishers once each, the rest in number arrays.
import type { Properties, QoS } from '../protocol/index.ts';
import type { Message } from './ports.ts';
import type { Accepted, Routed } from './remote.ts';
import type { Delivery } from './roles/topic-shard.ts';

/** Messages, in order. Per message `head` holds 4 numbers; `numbers` 3, when any message has one. */
export interface PackedMessages {
  /** Topics, each once. */
  topics: string[];
  /** Publishers (client ids), each once. */
  publishers: string[];
  /** Per message: topic (index in `topics`), publisher (index in `publishers` + 1; 0: none), flags, where its payload ends in `payloads`. */
  head: Uint32Array;
  /** The payloads, one after the other. */
  payloads: Uint8Array;
  /** Per message: stamp, id, expiresAt (NaN: none). Absent when no message has any. */
  numbers?: Float64Array;
  /** Per message its properties. Absent when no message has any. */
  properties?: Array<Properties | undefined>;
}

/** Routed messages: each message's deliveries are one of `lists`, which messages share. */
export interface PackedRouted {
  messages: PackedMessages;
  lists: Delivery[][];
  /** Per message: its deliveries' index in `lists`. */
  list: Uint32Array;
}

const qosBits = 3;
const retainFlag = 4;
const refusableFlag = 8;
const againFlag = 16;

/**
 * Payloads of a batch up to this size arrive as views of its one buffer; in a larger batch each
 * gets a copy of its own, so that a message kept in memory (a slow subscriber's queue) does not
 * hold more than this of other messages' bytes, as a view of a WebSocket message does today.
 */
export const viewBytes = 256 * 1024;

/** Values, each once, by index (strings by value, lists by identity); a batch mostly repeats the one before. */
class Interned<T> {
  readonly list: T[] = [];
  private readonly index = new Map<T, number>();
  private last?: T;
  private lastAt = 0;

  at(value: T): number {
    if (value === this.last) return this.lastAt;
    let i = this.index.get(value);
    if (i === undefined) this.index.set(value, (i = this.list.push(value) - 1));
    this.last = value;
    this.lastAt = i;
    return i;
  }
}

export function packMessages(messages: readonly Message[]): PackedMessages {
  const topics = new Interned<string>();
  const publishers = new Interned<string>();
  let bytes = 0;
  let numbered = false;
  let propertied = false;
  for (const m of messages) {
    bytes += m.payload.length;
    numbered ||= m.stamp !== undefined || m.id !== undefined || m.expiresAt !== undefined;
    propertied ||= m.properties !== undefined;
  }
  const head = new Uint32Array(messages.length * 4);
  const payloads = new Uint8Array(bytes);
  const numbers = numbered ? new Float64Array(messages.length * 3).fill(NaN) : undefined;
  const properties = propertied ? new Array<Properties | undefined>(messages.length) : undefined;
  let end = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const payload = m.payload;
    // a short payload is copied faster by hand than by a call into the runtime
    if (payload.length > 32) payloads.set(payload, end);
    else for (let k = 0; k < payload.length; k++) payloads[end + k] = payload[k];
    end += payload.length;
    const flags = m.qos | (m.retain ? retainFlag : 0) | (m.refusable ? refusableFlag : 0) | (m.again ? againFlag : 0);
    head[i * 4] = topics.at(m.topic);
    head[i * 4 + 1] = m.publisher === undefined ? 0 : publishers.at(m.publisher) + 1;
    head[i * 4 + 2] = flags;
    head[i * 4 + 3] = end;
    if (numbers) {
      if (m.stamp !== undefined) numbers[i * 3] = m.stamp;
      if (m.id !== undefined) numbers[i * 3 + 1] = m.id;
      if (m.expiresAt !== undefined) numbers[i * 3 + 2] = m.expiresAt;
    }
    if (properties) properties[i] = ownBytes(m.properties);
  }
  const packed: PackedMessages = { topics: topics.list, publishers: publishers.list, head, payloads };
  if (numbers) packed.numbers = numbers;
  if (properties) packed.properties = properties;
  return packed;
}

/**
 * Properties as a call carries them: a correlation data that is a view of a larger buffer (the
 * codec reads it as a view of its packet) gets a copy, or the clone would carry that whole buffer.
 */
function ownBytes(properties: Properties | undefined): Properties | undefined {
  const data = properties?.correlationData;
  if (!data || data.byteLength === data.buffer.byteLength) return properties;
  return { ...properties, correlationData: data.slice() };
}

export function unpackMessages({ topics, publishers, head, payloads, numbers, properties }: PackedMessages): Message[] {
  const count = head.length / 4;
  const messages = new Array<Message>(count);
  const views = payloads.byteLength <= viewBytes;
  let start = 0;
  for (let i = 0; i < count; i++) {
    const publisher = head[i * 4 + 1];
    const flags = head[i * 4 + 2];
    const end = head[i * 4 + 3];
    const payload = views ? payloads.subarray(start, end) : payloads.slice(start, end);
    start = end;
    const m: Message = { topic: topics[head[i * 4]], payload, qos: (flags & qosBits) as QoS, retain: (flags & retainFlag) !== 0 };
    if (publisher) m.publisher = publishers[publisher - 1];
    if (flags & refusableFlag) m.refusable = true;
    if (flags & againFlag) m.again = true;
    if (numbers) {
      if (!Number.isNaN(numbers[i * 3])) m.stamp = numbers[i * 3];
      if (!Number.isNaN(numbers[i * 3 + 1])) m.id = numbers[i * 3 + 1];
      if (!Number.isNaN(numbers[i * 3 + 2])) m.expiresAt = numbers[i * 3 + 2];
    }
    if (properties?.[i] !== undefined) m.properties = properties[i];
    messages[i] = m;
  }
  return messages;
}

export function packRouted(batch: readonly Routed[]): PackedRouted {
  const lists = new Interned<Delivery[]>();
  const list = Uint32Array.from(batch, ({ deliveries }) => lists.at(deliveries));
  return { messages: packMessages(batch.map((r) => r.message)), lists: lists.list, list };
}

export function unpackRouted({ messages, lists, list }: PackedRouted): Routed[] {
  return unpackMessages(messages).map((message, i) => ({ message, deliveries: lists[list[i]] }));
}

/** How many messages a packed batch holds. */
export function countOf(packed: PackedMessages): number {
  return packed.head.length / 4;
}

/** A shard's answers to a publish call, in order: per message 4 numbers in `head`, and its stamp. */
export interface PackedAnswers {
  /** Per message: sessions reached, deliveries (index + 1 in `lists`; 0: none), reason code refused (0: none), not retained (1). */
  head: Uint32Array;
  /** Per message: its stamp (NaN: none). */
  stamps: Float64Array;
  lists: Delivery[][];
}

/**
 * Packs a shard's answers: per message the sessions it reached, its reason code if refused, whether
 * it was not retained, and its stamp; `here`, the routed messages for the caller's own gateway, in
 * the messages' order (a subsequence of them), give each its deliveries.
 */
export function packAnswers(
  messages: readonly Message[], reached: readonly number[], refused: ReadonlyArray<number | undefined>, notRetained: ReadonlySet<Message>,
  here: readonly Routed[],
): PackedAnswers {
  const head = new Uint32Array(messages.length * 4);
  const stamps = new Float64Array(messages.length).fill(NaN);
  const lists = new Interned<Delivery[]>();
  let next = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    head[i * 4] = reached[i];
    if (here[next]?.message === m) head[i * 4 + 1] = lists.at(here[next++].deliveries) + 1;
    head[i * 4 + 2] = refused[i] ?? 0;
    head[i * 4 + 3] = notRetained.has(m) ? 1 : 0;
    if (m.stamp !== undefined) stamps[i] = m.stamp;
  }
  return { head, stamps, lists: lists.list };
}

/** What no session here gets. */
const nothing: Delivery[] = Object.freeze([]) as unknown as Delivery[];

/**
 * The answers as the caller's publishes take them; an answer that only counts what it reached is
 * one object per count (the deliveries and stamps are read from the packed form: Broker.answered).
 */
export function unpackAnswers({ head, stamps, lists }: PackedAnswers): Accepted[] {
  const answers = new Array<Accepted>(stamps.length);
  const plain = new Map<number, Accepted>();
  for (let i = 0; i < answers.length; i++) {
    const reached = head[i * 4];
    const list = head[i * 4 + 1];
    const refused = head[i * 4 + 2];
    const notRetained = head[i * 4 + 3];
    if (!list && !refused && !notRetained) {
      let a = plain.get(reached);
      if (!a) plain.set(reached, (a = { reached, here: nothing }));
      answers[i] = a;
      continue;
    }
    const a: Accepted = { reached, here: list ? lists[list - 1] : nothing };
    if (refused) a.refused = refused;
    if (notRetained) a.notRetained = true;
    answers[i] = a;
  }
  return answers;
}
