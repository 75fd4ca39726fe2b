// The user store beside the password file: users added, changed and deleted while the broker
// runs (the admin API, `npm run passwd -- --url`), each a password hash made as for the file and,
// optionally, ACL rules that replace the ACL file's for that user. The broker reads it through a
// UserDirectory; where it lives is the host's choice (the edge keeps it in SQLite).
import { MqttError, ReasonCode } from '../../protocol/index.ts';
import { parseRule, type AclRule } from './acl.ts';
import { parseHash, type PasswordHash } from './password.ts';

export interface StoredUser {
  hash: PasswordHash;
  /** Rules for this user alone, replacing the ACL file's; none: the ACL file applies. */
  acl?: AclRule[];
}

/** A user as stored and sent between objects: the `$pbkdf2-sha256$` text and the rules as written. */
export interface UserRecord {
  username: string;
  hash: string;
  acl?: string[];
}

export interface UserDirectory {
  lookup(username: string): StoredUser | undefined | Promise<StoredUser | undefined>;
}

/** Longest user name (UTF-8 bytes) the store takes. */
export const maxUsernameBytes = 256;
/**
 * Largest rule list (JSON bytes), a user's or a token's `acl` claim: the rules travel in the
 * principal, which a hibernating connection keeps in its WebSocket attachment.
 */
export const maxAclBytes = 2048;

const invalid = (message: string) => new MqttError(ReasonCode.ImplementationSpecificError, message);

/** 1 to 256 bytes, no control characters (U+0000 is never allowed in MQTT strings [MQTT-1.5.4-2]). */
export function checkUsername(username: string): string {
  const bytes = new TextEncoder().encode(username).length;
  if (bytes === 0 || bytes > maxUsernameBytes) throw invalid(`a user name is 1 to ${maxUsernameBytes} bytes`);
  if (/\p{Cc}/u.test(username)) throw invalid('a user name may not hold control characters');
  return username;
}

/** acl_file rules ("read a/#", "readwrite devices/%c/#", "deny x"): an array of strings, 2 KiB at most. */
export function parseAclRules(value: unknown): AclRule[] {
  if (!Array.isArray(value) || !value.every((r) => typeof r === 'string')) {
    throw invalid('acl must be an array of rules such as "read a/#"');
  }
  const bytes = new TextEncoder().encode(JSON.stringify(value)).length;
  if (bytes > maxAclBytes) throw invalid(`acl rules are ${maxAclBytes} bytes of JSON at most`);
  return value.map(parseRule);
}

/** A record as the broker uses it; throws on a malformed hash or rule. */
export function toStoredUser(record: Pick<UserRecord, 'hash' | 'acl'>): StoredUser {
  const user: StoredUser = { hash: parseHash(record.hash) };
  if (record.acl) user.acl = parseAclRules(record.acl);
  return user;
}

/**
 * A directory read through a call (a sharded gateway asks the object holding the store), with
 * the users it found kept for `ttl` ms, at most `max` of them: a change reaches it within `ttl`.
 * Unknown names are asked each time, so a user added is found at once.
 */
export class CachedDirectory implements UserDirectory {
  private readonly fetch: (username: string) => Promise<UserRecord | undefined>;
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly max: number;
  private readonly cache = new Map<string, { user: StoredUser; until: number }>();

  constructor(fetch: (name: string) => Promise<UserRecord | undefined>, now: () => number, ttl = 60_000, max = 1_000) {
    [this.fetch, this.now, this.ttl, this.max] = [fetch, now, ttl, max];
  }

  async lookup(username: string): Promise<StoredUser | undefined> {
    const hit = this.cache.get(username);
    if (hit && hit.until > this.now()) return hit.user;
    this.cache.delete(username);
    const record = await this.fetch(username);
    if (!record) return undefined;
    const user = toStoredUser(record);
    if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!); // the oldest
    this.cache.set(username, { user, until: this.now() + this.ttl });
    return user;
  }
}
