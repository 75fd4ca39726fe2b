// The one door to the object's SQLite: runs a statement, returns its rows, and counts the rows
// read and written (Cloudflare bills both) for the broker's cost figures.
import { fromBase64, toBase64 } from '../base64.ts';

export type Row = Record<string, SqlStorageValue>;

export class Sql {
  rowsRead = 0;
  rowsWritten = 0;
  private readonly storage: SqlStorage;

  constructor(storage: SqlStorage) {
    this.storage = storage;
  }

  all<T extends Row>(query: string, ...bindings: unknown[]): T[] {
    const cursor = this.storage.exec<T>(query, ...bindings);
    const rows = cursor.toArray();
    this.rowsRead += cursor.rowsRead;
    this.rowsWritten += cursor.rowsWritten;
    return rows;
  }

  /** The rows one at a time, as the cursor reads them: stopping early reads no more. */
  *each<T extends Row>(query: string, ...bindings: unknown[]): Generator<T> {
    const cursor = this.storage.exec<T>(query, ...bindings);
    try {
      for (const row of cursor) yield row;
    } finally {
      this.rowsRead += cursor.rowsRead;
      this.rowsWritten += cursor.rowsWritten;
    }
  }

  first<T extends Row>(query: string, ...bindings: unknown[]): T | undefined {
    return this.all<T>(query, ...bindings)[0];
  }

  run(query: string, ...bindings: unknown[]): number {
    const cursor = this.storage.exec(query, ...bindings);
    for (const _ of cursor);
    this.rowsRead += cursor.rowsRead;
    this.rowsWritten += cursor.rowsWritten;
    return cursor.rowsWritten;
  }
}

/** A BLOB binding: SQLite takes an ArrayBuffer, so a view is copied only when it is partial. */
export function blob(bytes: Uint8Array): ArrayBuffer {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  return whole ? (bytes.buffer as ArrayBuffer) : (bytes.slice().buffer as ArrayBuffer);
}

/** JSON for columns holding properties and wills: binary values become { $b: base64 }. */
export function toJson(value: unknown): string | null {
  if (value === undefined) return null;
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? { $b: toBase64(v) } : v));
}

export function fromJson<T>(text: SqlStorageValue): T | undefined {
  if (typeof text !== 'string') return undefined;
  // the reviver costs a call per value: most rows (a queued message's meta) hold no binary value
  if (!text.includes('"$b"')) return JSON.parse(text) as T;
  return JSON.parse(text, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && '$b' in v && typeof v.$b === 'string' ? fromBase64(v.$b) : v,
  ) as T;
}
