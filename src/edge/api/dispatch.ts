// The HTTP API's route tables and what their handlers share: one table is matched by path, then
// by method (405 with Allow otherwise), its parameter decoded, and any error turned into JSON.
import { ApiError, errorResponse } from './json.ts';

/** [method, path with at most one captured parameter, handler]. */
export type Route<C> = [method: string, path: RegExp, handler: Handler<C>];
type Handler<C> = (ctx: C, request: Request, url: URL, param: string) => Response | Promise<Response>;

export const bad = (message: string) => new ApiError(400, 'bad-request', message);
export const notFound = (message: string) => new ApiError(404, 'not-found', message);

/** ?limit=, 1 to 10000 (default 1000): bounds every listing. */
export function limit(url: URL): number {
  const raw = url.searchParams.get('limit') ?? '1000';
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 10_000)) throw bad('limit must be a whole number from 1 to 10000');
  return n;
}

/** Reads at most `maxBytes` of body: a larger one is refused before it is parsed. */
export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = new ApiError(413, 'too-large', `the body may hold at most ${maxBytes} bytes`);
  if (Number(request.headers.get('content-length') ?? 0) > maxBytes) throw tooLarge;
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > maxBytes) throw tooLarge;
  return bytes;
}

/** A JSON object body of at most `maxBytes`. */
export async function readJsonObject(request: Request, maxBytes: number): Promise<Record<string, unknown>> {
  const bytes = await readBody(request, maxBytes);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw bad('the body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('the body must be a JSON object');
  return value as Record<string, unknown>;
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw bad(`${raw} is not a well-formed URL component`);
  }
}

export async function dispatch<C>(table: Route<C>[], ctx: C, request: Request): Promise<Response> {
  const url = new URL(request.url);
  const matching = table.filter(([, path]) => path.test(url.pathname));
  if (!matching.length) return errorResponse(notFound(`no API at ${url.pathname}`));
  const route = matching.find(([method]) => method === request.method);
  const allow = matching.map(([method]) => method).join(', ');
  if (!route) return errorResponse(new ApiError(405, 'method-not-allowed', `${url.pathname} takes ${allow}`), { allow });
  try {
    const param = decodeParam(route[1].exec(url.pathname)?.[1] ?? '');
    return await route[2](ctx, request, url, param);
  } catch (err) {
    return errorResponse(err);
  }
}
