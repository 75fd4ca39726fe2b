// What a wake-up from hibernation needs to carry on with a connection, kept in its WebSocket
// attachment, and the most bytes that attachment can take for a given configuration: the runtime
// refuses an attachment over 16 KiB, so every field that a client sets has a bound here.
import type { ProtocolVersion } from '../protocol/index.ts';
import type { BrokerConfig } from './config.ts';
import type { AclRule } from './auth/acl.ts';
import type { Principal } from './hooks.ts';

export interface ConnectionSnapshot {
  v: 2;
  id: string;
  state: 'awaiting-connect' | 'active';
  openedAt: number;
  lastActivity: number;
  version: ProtocolVersion;
  clientId: string;
  /** Left out when it equals the principal's user name. */
  username?: string;
  principal?: SnapshotPrincipal;
  peer?: string;
  authMethod?: string;
  keepalive: number;
  window: number;
  maxPacketSize: number;
  problemInformation: boolean;
  /** Alias → topic, the topic's UTF-8 bytes as a one-byte string (see packUtf8). */
  topicAliases: Array<[number, string]>;
  incomingQoS2: number;
  durable: boolean;
  /** The session has a will: the object keeps an alarm set so a restart does not hold it back. */
  hasWill?: boolean;
}

/** Longest peer address or Authentication Method kept, in UTF-16 units. */
export const maxPeerLength = 64;
export const maxAuthMethodLength = 64;

/**
 * Serialized bytes a principal's ACL rules may take, packed (packPrincipal): 2 KiB of rules as
 * JSON (users.ts maxAclBytes, a user's or a token's) and two bytes a rule, at most 512 rules.
 */
export const principalAclBytes = 3_584;

/** A principal as the attachment keeps it: each rule one one-byte string, its access as one letter. */
export interface SnapshotPrincipal extends Omit<Principal, 'acl'> {
  acl?: string[];
}

const accessCode = { read: 'r', write: 'w', readwrite: 'b', deny: 'd' } as const satisfies Record<AclRule['access'], string>;
const accessOf = Object.fromEntries(Object.entries(accessCode).map(([k, v]) => [v, k])) as Record<string, AclRule['access']>;

export function packPrincipal(p: Principal | undefined): SnapshotPrincipal | undefined {
  if (!p?.acl) return p as SnapshotPrincipal | undefined;
  return { ...p, acl: p.acl.map((r) => accessCode[r.access] + packUtf8(r.topic)) };
}

export function unpackPrincipal(p: SnapshotPrincipal | undefined): Principal | undefined {
  if (!p?.acl) return p as Principal | undefined;
  return { ...p, acl: p.acl.map((r) => ({ access: accessOf[r[0]], topic: unpackUtf8(r.slice(1)) })) };
}

/** Longest generated client id (`auto-` and a UUID) [MQTT-3.1.3-6]. */
export const assignedClientIdLength = 41;

/** Keys, numbers, the connection id, the peer and the method, measured with room to spare. */
const fixedBytes = 1_024;

/** Most bytes V8's serializer gives a string of `units` UTF-16 units: two-byte form, tag, length, padding. */
const stringBytes = (units: number): number => 2 * units + 8;

/** What the transport keeps in the attachment beside the snapshot: the edge's meter stash (src/edge/meter.ts). */
export const transportBytes = 256;

/** The most bytes a connection's attachment takes serialized under this configuration. */
export function snapshotBound(config: BrokerConfig): number {
  const clientId = Math.max(config.maxClientIdLength, assignedClientIdLength);
  const alias = config.maxTopicLength + 16; // one-byte string of the UTF-8 bytes, in a [number, string] pair
  return fixedBytes + stringBytes(clientId) + stringBytes(config.maxUsernameLength) + principalAclBytes
    + config.topicAliasMaximum * alias + transportBytes;
}

/**
 * A string as its UTF-8 bytes held in a one-byte string: V8 serializes a string with any unit
 * above U+00FF as UTF-16, which would double a topic the configuration bounds in UTF-8 bytes.
 */
export function packUtf8(s: string): string {
  if (ascii.test(s)) return s;
  let out = '';
  for (const b of encoder.encode(s)) out += String.fromCharCode(b);
  return out;
}

export function unpackUtf8(packed: string): string {
  return decoder.decode(Uint8Array.from(packed, (c) => c.charCodeAt(0)));
}

const ascii = /^[\x00-\x7f]*$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
