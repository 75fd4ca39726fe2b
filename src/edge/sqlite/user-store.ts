// The user store on the object's SQLite (the namespace's object; sharded: session object #0):
// one row per user with its `$pbkdf2-sha256$` hash and its ACL rules as JSON. Input is checked
// by the admin API before it gets here.
import { toStoredUser, type StoredUser, type UserDirectory, type UserRecord } from '../../broker/auth/index.ts';
import type { Sql } from './sql.ts';

type UserRow = { username: string; hash: string; acl: string | null };

function toRecord(r: UserRow): UserRecord {
  const record: UserRecord = { username: r.username, hash: r.hash };
  if (r.acl !== null) record.acl = JSON.parse(r.acl) as string[];
  return record;
}

export class SqliteUsers implements UserDirectory {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  lookup(username: string): StoredUser | undefined {
    const record = this.get(username);
    return record && toStoredUser(record);
  }

  get(username: string): UserRecord | undefined {
    const row = this.sql.first<UserRow>('SELECT * FROM users WHERE username = ?', username);
    return row && toRecord(row);
  }

  /** Users by name after `after`, at most `limit`. */
  list(after: string, limit: number): UserRecord[] {
    return this.sql.all<UserRow>('SELECT * FROM users WHERE username > ? ORDER BY username LIMIT ?', after, limit).map(toRecord);
  }

  /** Adds a user or changes its hash; `acl` undefined keeps its rules, null removes them. True when the user is new. */
  put(username: string, hash: string, acl?: string[] | null): boolean {
    const existed = this.sql.first('SELECT 1 AS x FROM users WHERE username = ?', username) !== undefined;
    const rules = acl === undefined ? (existed ? undefined : null) : acl && JSON.stringify(acl);
    if (rules === undefined) this.sql.run('UPDATE users SET hash = ? WHERE username = ?', hash, username);
    else this.sql.run('INSERT OR REPLACE INTO users (username, hash, acl) VALUES (?, ?, ?)', username, hash, rules);
    return !existed;
  }

  /** Sets (or, with null, removes) a user's rules; false when there is no such user. */
  setAcl(username: string, acl: string[] | null): boolean {
    return this.sql.run('UPDATE users SET acl = ? WHERE username = ?', acl && JSON.stringify(acl), username) > 0;
  }

  delete(username: string): boolean {
    return this.sql.run('DELETE FROM users WHERE username = ?', username) > 0;
  }
}
