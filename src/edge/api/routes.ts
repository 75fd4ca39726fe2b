// The HTTP API inside a namespace's object: a table of routes, each translating HTTP and JSON into
// one broker call. Input is read and checked whole before the broker sees it, so a refused request
// applies nothing.
import { ReasonCode } from '../../protocol/index.ts';
import { describeClient, kick, listClients, type ClientSummary, type QueuedMessage } from '../../broker/admin/clients.ts';
import { adminPublish } from '../../broker/admin/publish.ts';
import { deleteRetained, listRetained } from '../../broker/admin/retained.ts';
import type { Observed } from '../../broker/observe/observed.ts';
import type { Meter } from '../meter.ts';
import type { EventStreams } from './event-stream.ts';
import { ApiError, errorResponse, json } from './json.ts';
import { messageToJson } from './message-json.ts';
import { readPublish } from './publish-body.ts';
import { prometheus, statsOf } from './stats.ts';

export interface ApiContext {
  namespace: string;
  observed: Observed;
  meter: Meter;
  streams: EventStreams;
}

type Handler = (ctx: ApiContext, request: Request, url: URL, param: string) => Response | Promise<Response>;

const bad = (message: string) => new ApiError(400, 'bad-request', message);
const notFound = (message: string) => new ApiError(404, 'not-found', message);

function required(url: URL, name: string): string {
  const value = url.searchParams.get(name);
  if (value === null) throw bad(`${name} is missing from the query`);
  return value;
}

/**
 * A topic filter from the query. `#` starts a URL's fragment, which clients never send, and `+`
 * in a query means a space: both must be written %23 and %2B, and the error says so.
 */
function filterParam(url: URL, fallback?: string): string {
  const value = url.searchParams.get('filter') ?? fallback;
  if (value === undefined) throw bad('filter is missing from the query');
  if (value === '') throw bad('filter is empty: in a URL, write # as %23 (filter=%23, filter=a/%23); a bare # starts the fragment, which is never sent');
  if (value.includes(' ') && /filter=[^&]*\+/.test(url.search)) {
    throw bad(`filter "${value}" holds a space where the URL has +: in a query, write + as %2B (filter=a/%2B/b)`);
  }
  return value;
}

/** ?limit=, 1 to 10000 (default 1000): bounds every listing. */
function limit(url: URL): number {
  const raw = url.searchParams.get('limit') ?? '1000';
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 10_000)) throw bad('limit must be a whole number from 1 to 10000');
  return n;
}

/** ?reasonCode=, decimal or 0x hex; Administrative action by default. */
function reasonCode(url: URL): number {
  const raw = url.searchParams.get('reasonCode');
  if (raw === null) return ReasonCode.AdministrativeAction;
  if (!/^(0x[0-9a-f]{1,2}|\d{1,3})$/i.test(raw)) throw bad('reasonCode must be a number, decimal or 0x hex');
  return Number(raw);
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw bad(`${raw} is not a well-formed URL component`);
  }
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const clientJson = (c: ClientSummary) => ({
  ...c, connectedAt: iso(c.connectedAt), lastActivity: iso(c.lastActivity), disconnectedAt: iso(c.disconnectedAt),
});

const queuedJson = (m: QueuedMessage) => ({ ...messageToJson(m), state: m.state, packetId: m.packetId });

const routes: Array<[method: string, path: RegExp, handler: Handler]> = [
  ['POST', /^\/api\/publish$/, async ({ observed: { broker } }, request, url) => {
    const input = await readPublish(request, url, broker.config.maxPacketSize);
    return json({ topic: input.topic, matched: await adminPublish(broker, input) });
  }],
  ['GET', /^\/api\/retained$/, ({ observed: { broker } }, _r, url) => {
    const { messages, total } = listRetained(broker, filterParam(url, '#'), limit(url));
    return json({ total, messages: messages.map(messageToJson) });
  }],
  ['DELETE', /^\/api\/retained$/, ({ observed: { broker } }, _r, url) => {
    const topic = required(url, 'topic');
    if (!deleteRetained(broker, topic)) throw notFound(`nothing is retained on ${topic}`);
    return json({ deleted: topic });
  }],
  ['GET', /^\/api\/clients$/, ({ observed: { broker } }, _r, url) => {
    const { clients, total } = listClients(broker, limit(url));
    return json({ total, clients: clients.map(clientJson) });
  }],
  ['GET', /^\/api\/clients\/([^/]+)$/, ({ observed: { broker } }, _r, url, id) => {
    const client = describeClient(broker, id, limit(url));
    if (!client) throw notFound(`no session for client ${id}`);
    return json({ ...clientJson(client), messages: client.messages.map(queuedJson) });
  }],
  ['DELETE', /^\/api\/clients\/([^/]+)$/, ({ observed: { broker } }, _r, url, id) => {
    const code = reasonCode(url);
    if (!kick(broker, id, code)) throw notFound(`client ${id} is not connected`);
    return json({ disconnected: id, reasonCode: code });
  }],
  ['GET', /^\/api\/subscribe$/, ({ streams }, request, url) => streams.open(filterParam(url), request.signal)],
  ['GET', /^\/api\/stats$/, (ctx) => json(statsOf(ctx.namespace, ctx.observed, ctx.meter, ctx.streams.size, Date.now()))],
  ['GET', /^\/metrics$/, (ctx) => new Response(prometheus(statsOf(ctx.namespace, ctx.observed, ctx.meter, ctx.streams.size, Date.now())), {
    headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' },
  })],
];

export async function handleApi(ctx: ApiContext, request: Request): Promise<Response> {
  const url = new URL(request.url);
  const matching = routes.filter(([, path]) => path.test(url.pathname));
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
