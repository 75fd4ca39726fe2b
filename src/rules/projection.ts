// A rule's projection: which fields of the JSON payload an action receives, and under what
// names. `["temp", "meta.id"]` keeps those paths under their own names; `{"t": "temp",
// "device": "$clientId"}` renames. A path is dot-separated field names (array indexes are
// numbers); `$topic`, `$clientId` and `$receivedAt` name the message's own fields. A field the
// payload lacks is left out.
import { ruleBounds } from './limits.ts';

/** Output field → source path. */
export type Projection = Array<[name: string, path: string[]]>;

export interface Envelope {
  topic: string;
  clientId?: string;
  receivedAt: number;
}

const pathPattern = /^(\$topic|\$clientId|\$receivedAt|[^.$][^.]*(\.[^.]+)*)$/;

export function parseProjection(value: unknown): Projection {
  const pairs: Array<[string, unknown]> = Array.isArray(value) ? value.map((p) => [String(p), p])
    : value !== null && typeof value === 'object' ? Object.entries(value) : [];
  if (!pairs.length) throw new Error('must be a non-empty list of field paths or an object of {name: path}');
  if (pairs.length > ruleBounds.maxProjectionFields) throw new Error(`names ${pairs.length} fields; at most ${ruleBounds.maxProjectionFields}`);
  return pairs.map(([name, path]) => {
    if (typeof path !== 'string' || !pathPattern.test(path)) {
      throw new Error(`${JSON.stringify(path)} is not a field path ("a.b.0", "$topic", "$clientId" or "$receivedAt")`);
    }
    return [name, path.split('.')];
  });
}

/** The projected object of a payload's JSON value (undefined value: only the `$` fields). */
export function project(projection: Projection, value: unknown, envelope: Envelope): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, path] of projection) {
    const found = path[0].startsWith('$') ? envelope[path[0].slice(1) as keyof Envelope] : at(value, path);
    if (found !== undefined) out[name] = found;
  }
  return out;
}

function at(value: unknown, path: string[]): unknown {
  let node = value;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
