// The broker's tables in the object's SQLite, created when an object first starts, and the
// gauges kept beside them: counts of retained messages, sessions whose client is away, sessions
// that outlive their connection and outbound messages, updated by triggers in the same statement
// as the rows they count, so a stats or $SYS read (or a CONNECT's quota check) costs one row per
// gauge instead of a scan.
import type { Sql } from './sql.ts';

const tables = [
  `CREATE TABLE IF NOT EXISTS sessions (
    client_id TEXT PRIMARY KEY, expiry_interval INTEGER NOT NULL, connection_id TEXT,
    disconnected_at INTEGER, will TEXT, owner TEXT)`,
  `CREATE TABLE IF NOT EXISTS subscriptions (
    client_id TEXT NOT NULL, topic_filter TEXT NOT NULL, options TEXT NOT NULL,
    PRIMARY KEY (client_id, topic_filter)) WITHOUT ROWID`,
  // keyed by client so one row write touches one B-tree; seq comes from the store's counter
  `CREATE TABLE IF NOT EXISTS outbound (
    client_id TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, packet_id INTEGER,
    topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, meta TEXT,
    PRIMARY KEY (client_id, seq)) WITHOUT ROWID`,
  // routing: sharded topology, the Message.id of a QoS 2 message still on its way to its shard (NULL: received)
  `CREATE TABLE IF NOT EXISTS incoming (
    client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, routing INTEGER, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID`,
  // sharded topology: per session and publisher, the QoS 2 message ids delivered (a JSON array, the
  // last few) and when the last came (ms): SessionStore.recognise
  `CREATE TABLE IF NOT EXISTS recognised (
    client_id TEXT NOT NULL, publisher TEXT NOT NULL, ids TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (client_id, publisher)) WITHOUT ROWID`,
  // live clean sessions' flows, copied from memory so a hibernation keeps them (clean-flows.ts)
  `CREATE TABLE IF NOT EXISTS clean_outbound (
    client_id TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, packet_id INTEGER,
    topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, meta TEXT,
    PRIMARY KEY (client_id, seq)) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS clean_incoming (
    client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL, meta TEXT) WITHOUT ROWID`,
  // sharded topology: a topic shard's subscribers, where they are (gateway index; NULL: away)
  `CREATE TABLE IF NOT EXISTS locations (client_id TEXT PRIMARY KEY, gateway INTEGER) WITHOUT ROWID`,
  // sharded topology: a session object's live client ids, by gateway and connection
  `CREATE TABLE IF NOT EXISTS attachments (
    client_id TEXT PRIMARY KEY, gateway INTEGER NOT NULL, connection_id TEXT NOT NULL, owner TEXT, counted INTEGER) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS meter (id INTEGER PRIMARY KEY CHECK (id = 1), saved TEXT NOT NULL)`,
  // the last good JWKS of MQTT_JWT_JWKS_URL (src/edge/sqlite/jwks-store.ts)
  `CREATE TABLE IF NOT EXISTS jwks (url TEXT PRIMARY KEY, body TEXT NOT NULL, fetched_at INTEGER NOT NULL, fresh_until INTEGER NOT NULL)`,
  // the user store (admin API, `npm run passwd --url`): a $pbkdf2-sha256$ hash, ACL rules as JSON
  `CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY, hash TEXT NOT NULL, acl TEXT) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS gauges (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,
  // the rule engine (src/rules, sqlite/rule-store.ts): definitions, the outbox (a row per message,
  // `rules` the bits of the rules it matched), dead letters, saved state. An object made before the
  // shared outbox also has `rule_outbox` (a row per rule and message) until rule-outbox-upgrade.ts empties it.
  `CREATE TABLE IF NOT EXISTS rules (name TEXT PRIMARY KEY, definition TEXT NOT NULL, enabled INTEGER NOT NULL, source TEXT NOT NULL) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS rule_messages (
    seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
    received_at INTEGER NOT NULL, meta TEXT, rules INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS rule_dead_letters (
    rule TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
    retain INTEGER NOT NULL, received_at INTEGER NOT NULL, attempts INTEGER NOT NULL, meta TEXT,
    failed_at INTEGER NOT NULL, error TEXT NOT NULL, PRIMARY KEY (rule, seq)) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS rule_state (rule TEXT PRIMARY KEY, saved TEXT NOT NULL) WITHOUT ROWID`,
];

/** Each gauge: the count that starts it (run once, when the gauge is first created) and its triggers. */
const gauges: Record<string, { count: string; triggers: string[] }> = {
  retained: {
    count: 'SELECT count(*) AS n FROM retained',
    triggers: [
      'AFTER INSERT ON retained BEGIN UPDATE gauges SET value = value + 1 WHERE name = \'retained\'; END',
      'AFTER DELETE ON retained BEGIN UPDATE gauges SET value = value - 1 WHERE name = \'retained\'; END',
    ],
  },
  // kept by SqliteSessionStore, not by triggers: a trigger is a row written per message delivered
  outbound: {
    count: 'SELECT count(*) AS n FROM outbound',
    triggers: [],
  },
  // sessions whose client is away: no connection id
  away: {
    count: 'SELECT count(*) AS n FROM sessions WHERE connection_id IS NULL',
    triggers: [
      'AFTER INSERT ON sessions WHEN NEW.connection_id IS NULL BEGIN UPDATE gauges SET value = value + 1 WHERE name = \'away\'; END',
      'AFTER DELETE ON sessions WHEN OLD.connection_id IS NULL BEGIN UPDATE gauges SET value = value - 1 WHERE name = \'away\'; END',
      `AFTER UPDATE OF connection_id ON sessions WHEN (OLD.connection_id IS NULL) <> (NEW.connection_id IS NULL) BEGIN
        UPDATE gauges SET value = value + (NEW.connection_id IS NULL) - (OLD.connection_id IS NULL) WHERE name = 'away'; END`,
    ],
  },
  // sessions that outlive their connection (the persistent-session quota), connected or away
  persistent: {
    count: 'SELECT count(*) AS n FROM sessions WHERE expiry_interval > 0',
    triggers: [
      'AFTER INSERT ON sessions WHEN NEW.expiry_interval > 0 BEGIN UPDATE gauges SET value = value + 1 WHERE name = \'persistent\'; END',
      'AFTER DELETE ON sessions WHEN OLD.expiry_interval > 0 BEGIN UPDATE gauges SET value = value - 1 WHERE name = \'persistent\'; END',
      `AFTER UPDATE OF expiry_interval ON sessions WHEN (OLD.expiry_interval > 0) <> (NEW.expiry_interval > 0) BEGIN
        UPDATE gauges SET value = value + (NEW.expiry_interval > 0) - (OLD.expiry_interval > 0) WHERE name = 'persistent'; END`,
    ],
  },
};

export type Gauge = keyof typeof gauges;

/** Columns added after a table was first shipped: created above for a new object, added here to an old one. */
const added = [
  { table: 'sessions', column: 'owner', type: 'TEXT' }, { table: 'attachments', column: 'owner', type: 'TEXT' },
  { table: 'incoming', column: 'routing', type: 'INTEGER' }, { table: 'attachments', column: 'counted', type: 'INTEGER' },
];

export function migrate(sql: Sql): void {
  for (const statement of tables) sql.run(statement);
  for (const { table, column, type } of added) {
    const columns = sql.all<{ name: string }>(`PRAGMA table_info(${table})`);
    if (!columns.some((c) => c.name === column)) sql.run(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
  for (const i of [0, 1]) sql.run(`DROP TRIGGER IF EXISTS gauge_outbound_${i}`); // an earlier build's
  const present = new Set(sql.all<{ name: string }>('SELECT name FROM gauges').map((r) => r.name));
  for (const [name, gauge] of Object.entries(gauges)) {
    gauge.triggers.forEach((body, i) => sql.run(`CREATE TRIGGER IF NOT EXISTS gauge_${name}_${i} ${body}`));
    // an object that held rows before its gauges existed is counted once; the triggers keep it since
    if (!present.has(name)) sql.run('INSERT INTO gauges (name, value) VALUES (?, ?)', name, sql.first<{ n: number }>(gauge.count)!.n);
  }
}

/** Sets a gauge kept outside the triggers: one row written. */
export function setGauge(sql: Sql, name: Gauge, value: number): void {
  sql.run('UPDATE gauges SET value = ? WHERE name = ?', value, name);
}

/** A gauge's value: one row read. */
export function gauge(sql: Sql, name: Gauge): number {
  return sql.first<{ value: number }>('SELECT value FROM gauges WHERE name = ?', name)?.value ?? 0;
}
