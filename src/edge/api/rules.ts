// The rules' routes (/api/rules): list with counters, read, add or replace (PUT, API rules only),
// delete, enable and disable, and each rule's dead letters: read, delete, replay. Served by the
// namespace's object (default topology).
import { messageRecord } from '../../rules/actions/fields.ts';
import type { RuleEngine } from '../../rules/engine.ts';
import { RuleConflict, RuleError } from '../../rules/rule.ts';
import { bad, dispatch, limit, notFound, readJsonObject, type Route } from './dispatch.ts';
import { ApiError, json } from './json.ts';

/** Largest rule definition taken. */
const maxBody = 16 * 1024;
/** Most dead-letter payload bytes one answer carries (a page ends early past it; `next` continues). */
const maxAnswerBytes = 8 * 1024 * 1024;

type Ctx = { rules?: RuleEngine };

function engine(ctx: Ctx): RuleEngine {
  if (!ctx.rules) throw new ApiError(501, 'not-implemented', 'rules run on the topic shards in a sharded namespace');
  return ctx.rules;
}

/** A RuleError as the HTTP answer: 409 for a conflict with the rule's state, else 400. */
function checked<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof RuleConflict) throw new ApiError(409, 'conflict', err.message);
    if (err instanceof RuleError) throw bad(err.message);
    throw err;
  }
}

/** ?seq=1,2,3: the dead letters a request names (none: all of them). */
function seqs(url: URL): number[] | undefined {
  const raw = url.searchParams.get('seq');
  if (raw === null) return undefined;
  const list = raw.split(',').map(Number);
  if (!list.length || list.length > 1000 || !list.every((n) => Number.isSafeInteger(n) && n > 0)) throw bad('seq must be 1 to 1000 comma-separated message numbers');
  return list;
}

export const ruleRoutes: Route<Ctx>[] = [
  ['GET', /^\/api\/rules$/, (ctx) => json({ rules: engine(ctx).list() })],
  ['GET', /^\/api\/rules\/([^/]+)$/, (ctx, _r, _u, name) => {
    const rule = engine(ctx).get(name);
    if (!rule) throw notFound(`no rule ${name}`);
    return json(rule);
  }],
  ['PUT', /^\/api\/rules\/([^/]+)$/, async (ctx, request, _u, name) => {
    const body = await readJsonObject(request, maxBody);
    if (body.name !== undefined && body.name !== name) throw bad(`the body names rule "${String(body.name)}", the URL "${name}"`);
    const { created, rule } = checked(() => engine(ctx).put({ ...body, name }));
    return json(rule, created ? 201 : 200);
  }],
  ['DELETE', /^\/api\/rules\/([^/]+)$/, (ctx, _r, url, name) => {
    const discarded = checked(() => engine(ctx).delete(name, url.searchParams.get('discard') === 'true'));
    if (!discarded) throw notFound(`no rule ${name}`);
    return json({ deleted: name, discarded });
  }],
  ['POST', /^\/api\/rules\/([^/]+)\/enable$/, (ctx, _r, _u, name) => {
    if (!engine(ctx).setEnabled(name, true)) throw notFound(`no rule ${name}`);
    return json(engine(ctx).get(name));
  }],
  ['POST', /^\/api\/rules\/([^/]+)\/disable$/, (ctx, _r, _u, name) => {
    if (!engine(ctx).setEnabled(name, false)) throw notFound(`no rule ${name}`);
    return json(engine(ctx).get(name));
  }],
  ['GET', /^\/api\/rules\/([^/]+)\/dead-letters$/, (ctx, _r, url, name) => {
    const after = Number(url.searchParams.get('after') ?? 0);
    if (!Number.isSafeInteger(after) || after < 0) throw bad('after must be a message number');
    const n = limit(url);
    const found = engine(ctx).deadLetters(name, after, n);
    if (!found) throw notFound(`no rule ${name}`);
    const page: Record<string, unknown>[] = [];
    let bytes = 0;
    for (const d of found) {
      if (page.length && bytes + d.payload.length > maxAnswerBytes) break;
      page.push({ ...messageRecord(d), attempts: d.attempts, failedAt: new Date(d.failedAt).toISOString(), error: d.error });
      bytes += d.payload.length;
    }
    const full = page.length < found.length || found.length === n;
    return json({ rule: name, deadLetters: page, next: full && page.length ? found[page.length - 1].seq : null });
  }],
  ['DELETE', /^\/api\/rules\/([^/]+)\/dead-letters$/, (ctx, _r, url, name) => {
    const deleted = engine(ctx).dropDeadLetters(name, seqs(url), false);
    if (deleted === undefined) throw notFound(`no rule ${name}`);
    return json({ rule: name, deleted });
  }],
  ['POST', /^\/api\/rules\/([^/]+)\/dead-letters\/replay$/, (ctx, _r, url, name) => {
    const replayed = engine(ctx).dropDeadLetters(name, seqs(url), true);
    if (replayed === undefined) throw notFound(`no rule ${name}`);
    return json({ rule: name, replayed });
  }],
];

/** The rules' routes alone: what a topic shard serves (sharded namespace). */
export function handleRuleApi(rules: RuleEngine, request: Request): Promise<Response> {
  return dispatch(ruleRoutes, { rules }, request);
}
