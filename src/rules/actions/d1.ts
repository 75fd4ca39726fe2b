// The D1 action: one row per matched message, inserted into a table through a column mapping
// (column <- field path, fields.ts), the whole batch in one D1 batch (one transaction).
//   { "kind": "d1", "binding": "RULES_DB", "table": "readings",
//     "columns": { "topic": "topic", "device": "clientId", "temp": "value.temperature",
//                  "at": "receivedAt", "seq": "seq" },
//     "onConflict": "ignore" }
// Values: numbers and strings as they are, booleans as 1/0, undefined as NULL, objects and arrays
// as JSON text, a payload that is not UTF-8 as a BLOB. Table and column names are checked against
// a strict pattern and quoted, so configuration cannot carry SQL.
import type { ActionKind } from '../action.ts';
import { bindingOf, byteLength, onlyFields, parseField } from './fields.ts';

/**
 * D1 limits (https://developers.cloudflare.com/d1/platform/limits/): 100 columns per table, 100
 * bound parameters per query, a row (string or BLOB) of at most 2,000,000 bytes, and 50 queries
 * per Worker invocation on the Free plan (1,000 on Paid): a batch stays within the smaller.
 */
export const d1Limits = { columns: 100, rowBytes: 2_000_000, statementsPerBatch: 50 } as const;

export interface D1Config {
  binding: string;
  /** The INSERT, built once from checked identifiers. */
  sql: string;
  /** Column names and the field paths they take (plain data: a configuration may be stored as JSON). */
  columns: { name: string; path: string }[];
}

interface D1Binding {
  prepare(sql: string): { bind(...values: unknown[]): unknown };
  batch(statements: unknown[]): Promise<unknown>;
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const verbs = { abort: 'INSERT', ignore: 'INSERT OR IGNORE', replace: 'INSERT OR REPLACE' } as const;

function checkIdentifier(name: unknown, what: string): string {
  if (typeof name !== 'string' || !identifier.test(name) || /^sqlite_/i.test(name)) {
    throw new Error(`${what} ${JSON.stringify(name)} must be 1 to 64 of A-Z a-z 0-9 _, not starting with a digit or sqlite_`);
  }
  return name;
}

/** A value as D1 binds it. */
function sqlValue(v: unknown): string | number | ArrayBuffer | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return v.slice().buffer;
  return JSON.stringify(v);
}

const sizeOf = (v: string | number | ArrayBuffer | null) => (typeof v === 'string' ? byteLength(v) : v instanceof ArrayBuffer ? v.byteLength : 8);

export const d1Action: ActionKind<D1Config> = {
  kind: 'd1',

  parse(config, env) {
    onlyFields(config, ['binding', 'table', 'columns', 'onConflict']);
    const { name } = bindingOf<D1Binding>(config, env, 'D1 database', ['prepare', 'batch']);
    const table = checkIdentifier(config.table, 'table');
    const mapping = config.columns;
    if (mapping === null || typeof mapping !== 'object' || Array.isArray(mapping) || !Object.keys(mapping).length) {
      throw new Error('columns must be an object of column name to field path, e.g. { "temp": "value.temperature" }');
    }
    const entries = Object.entries(mapping);
    if (entries.length > d1Limits.columns) throw new Error(`columns maps ${entries.length} columns, more than the ${d1Limits.columns} a D1 table has`);
    const columns = entries.map(([column, path]) => {
      parseField(path, `columns.${column}`);
      return { name: checkIdentifier(column, 'column'), path: path as string };
    });
    const onConflict = config.onConflict ?? 'abort';
    if (onConflict !== 'abort' && onConflict !== 'ignore' && onConflict !== 'replace') throw new Error('onConflict must be "abort", "ignore" or "replace"');
    if (onConflict !== 'abort' && !entries.some(([, path]) => path === 'seq')) {
      throw new Error(`onConflict "${onConflict}" needs a column mapped from seq (with a UNIQUE key on it and topic) to tell a replay from a new row`);
    }
    const list = columns.map((c) => `"${c.name}"`).join(', ');
    const sql = `${verbs[onConflict]} INTO "${table}" (${list}) VALUES (${columns.map(() => '?').join(', ')})`;
    return { binding: name, sql, columns };
  },

  limits() {
    return { count: d1Limits.statementsPerBatch, bytes: 1_000_000 };
  },

  /** One statement per message, all in one D1 batch: the batch lands whole or not at all. */
  async deliver(config, batch, context) {
    const db = context.env[config.binding] as D1Binding;
    const statement = db.prepare(config.sql);
    const fields = config.columns.map((c) => parseField(c.path, c.name));
    const statements = batch.map((m) => {
      const values = fields.map((field) => sqlValue(field(m)));
      const bytes = values.reduce<number>((sum, v) => sum + sizeOf(v), 0);
      if (bytes > d1Limits.rowBytes) throw new Error(`message seq ${m.seq} makes a ${bytes}-byte row, more than the ${d1Limits.rowBytes} bytes a D1 row may be`);
      return statement.bind(...values);
    });
    await db.batch(statements);
  },
};
