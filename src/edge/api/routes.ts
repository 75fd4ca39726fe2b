// The HTTP API inside a namespace's object: a table of routes, each translating HTTP and JSON into
// one broker call. Input is read and checked whole before the broker sees it, so a refused request
// applies nothing.
import { ReasonCode } from '../../protocol/index.ts';
import { describeClient, kick, listClients, type ClientSummary, type QueuedMessage } from '../../broker/admin/clients.ts';
import { adminPublish } from '../../broker/admin/publish.ts';
import { deleteRetained, listRetained } from '../../broker/admin/retained.ts';
import type { Observed } from '../../broker/observe/observed.ts';
import type { Meter } from '../meter.ts';
import type { SqliteUsers } from '../sqlite/user-store.ts';
import { bad, dispatch, limit, notFound, type Route } from './dispatch.ts';
import type { EventStreams } from './event-stream.ts';
import { json } from './json.ts';
import { messageToJson } from './message-json.ts';
import { readPublish } from './publish-body.ts';
import { prometheus, statsOf } from './stats.ts';
import { userRoutes } from './users.ts';
import { ruleRoutes } from './rules.ts';
import type { RuleEngine } from '../../rules/engine.ts';

export interface ApiContext {
  namespace: string;
  observed: Observed;
  meter: Meter;
  streams: EventStreams;
  users: SqliteUsers;
  /** The namespace's rules; none on a sharded gateway. */
  rules?: RuleEngine;
}

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

/** ?reasonCode=, decimal or 0x hex; Administrative action by default. */
function reasonCode(url: URL): number {
  const raw = url.searchParams.get('reasonCode');
  if (raw === null) return ReasonCode.AdministrativeAction;
  if (!/^(0x[0-9a-f]{1,2}|\d{1,3})$/i.test(raw)) throw bad('reasonCode must be a number, decimal or 0x hex');
  return Number(raw);
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const clientJson = (c: ClientSummary) => ({
  ...c, connectedAt: iso(c.connectedAt), lastActivity: iso(c.lastActivity), disconnectedAt: iso(c.disconnectedAt),
});

const queuedJson = (m: QueuedMessage) => ({ ...messageToJson(m), state: m.state, packetId: m.packetId });

const routes: Route<ApiContext>[] = [
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
  ['GET', /^\/api\/stats$/, (ctx) => json(statsOf(ctx.namespace, ctx.observed, ctx.meter, ctx.streams.size, Date.now(), ctx.rules))],
  ['GET', /^\/metrics$/, (ctx) => new Response(prometheus(statsOf(ctx.namespace, ctx.observed, ctx.meter, ctx.streams.size, Date.now(), ctx.rules)), {
    headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' },
  })],
];

export function handleApi(ctx: ApiContext, request: Request): Promise<Response> {
  return dispatch([...routes, ...userRoutes, ...ruleRoutes], ctx, request);
}
