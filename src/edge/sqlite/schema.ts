// The broker's tables in the object's SQLite, created when an object first starts.
import type { Sql } from './sql.ts';

const tables = [
  `CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY, expiry_interval INTEGER NOT NULL, connection_id TEXT,
    disconnected_at INTEGER, will TEXT)`,
  `CREATE TABLE IF NOT EXISTS subscriptions (
    client_id TEXT NOT NULL, topic_filter TEXT NOT NULL, options TEXT NOT NULL,
    PRIMARY KEY (client_id, topic_filter)) WITHOUT ROWID`,
  // keyed by client so one row write touches one B-tree; seq comes from the store's counter
  `CREATE TABLE IF NOT EXISTS outbound (
    client_id TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, packet_id INTEGER,
    topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, meta TEXT,
    PRIMARY KEY (client_id, seq)) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS incoming (
    client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, meta TEXT) WITHOUT ROWID`,
  // sharded topology: a topic shard's subscribers, where they are (gateway index; NULL: away)
  `CREATE TABLE IF NOT EXISTS locations (client_id TEXT PRIMARY KEY, gateway INTEGER) WITHOUT ROWID`,
  // sharded topology: a session object's live client ids, by gateway and connection
  `CREATE TABLE IF NOT EXISTS attachments (
    client_id TEXT PRIMARY KEY, gateway INTEGER NOT NULL, connection_id TEXT NOT NULL) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS meter (id INTEGER PRIMARY KEY CHECK (id = 1), saved TEXT NOT NULL)`,
  // the last good JWKS of MQTT_JWT_JWKS_URL (src/edge/sqlite/jwks-store.ts)
  `CREATE TABLE IF NOT EXISTS jwks (url TEXT PRIMARY KEY, body TEXT NOT NULL, fetched_at INTEGER NOT NULL, fresh_until INTEGER NOT NULL)`,
];

export function migrate(sql: Sql): void {
  for (const statement of tables) sql.run(statement);
}
