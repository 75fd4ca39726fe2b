// /api/rules in a sharded namespace: every topic shard runs the rules for its own topics, with its
// own outboxes, dead letters and counters, so the Worker asks each shard (one subrequest each)
// and answers with the sum: counters and sizes added, the largest lag, the latest error. A change
// (PUT, DELETE, enable, disable) goes to every shard. Dead letters carry their `shard`; `?shard=`
// sends a dead-letter request (a read, or a replay or delete by `seq`) to that shard only.
import { platformLimits } from '../../broker/platform.ts';
import type { RuleView } from '../../rules/engine.ts';
import { objectName, type Topology } from '../topology.ts';
import { readBody } from './dispatch.ts';
import { ApiError, errorResponse, json } from './json.ts';

/** The Worker's calls: at most this many shards are asked in one request. */
const maxShards = platformLimits.subrequests.value - 1;
const maxBody = 16 * 1024;

type Answer = { status: number; body: Record<string, unknown> };

function mergeViews(views: RuleView[]): RuleView {
  const [first] = views;
  const sum = (pick: (v: RuleView) => number) => views.reduce((n, v) => n + pick(v), 0);
  const counters = Object.fromEntries(Object.keys(first.counters).map((k) => [k, sum((v) => v.counters[k as keyof RuleView['counters']])]));
  const latest = views.filter((v) => v.lastErrorAt !== undefined).sort((a, b) => b.lastErrorAt! - a.lastErrorAt!)[0];
  return {
    ...first, counters: { ...(counters as unknown as RuleView['counters']), lastSeq: Math.max(...views.map((v) => v.counters.lastSeq)) }, outbox: { messages: sum((v) => v.outbox.messages), bytes: sum((v) => v.outbox.bytes) },
    deadLetters: { messages: sum((v) => v.deadLetters.messages), bytes: sum((v) => v.deadLetters.bytes) },
    lagMs: Math.max(...views.map((v) => v.lagMs)), lastError: latest?.lastError, lastErrorAt: latest?.lastErrorAt,
    problem: views.find((v) => v.problem)?.problem,
  };
}

function merge(path: string, answers: Answer[], shards: number[]): Record<string, unknown> {
  const bodies = answers.map((a) => a.body);
  if (/^\/api\/rules$/.test(path)) {
    const byName = new Map<string, RuleView[]>();
    for (const b of bodies) for (const r of b.rules as RuleView[]) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
    return { rules: [...byName.values()].map(mergeViews) };
  }
  if (/\/dead-letters$/.test(path) && 'deadLetters' in bodies[0]) {
    return { rule: bodies[0].rule, deadLetters: bodies.flatMap((b, i) => (b.deadLetters as object[]).map((d) => ({ ...d, shard: shards[i] }))) };
  }
  if ('deleted' in bodies[0] && 'discarded' in bodies[0]) {
    const discarded = bodies.map((b) => b.discarded as { outbox: number; deadLetters: number });
    return { deleted: bodies[0].deleted, discarded: { outbox: discarded.reduce((n, d) => n + d.outbox, 0), deadLetters: discarded.reduce((n, d) => n + d.deadLetters, 0) } };
  }
  for (const key of ['deleted', 'replayed']) {
    if (typeof bodies[0][key] === 'number') return { rule: bodies[0].rule, [key]: bodies.reduce((n, b) => n + (b[key] as number), 0) };
  }
  return mergeViews(bodies as unknown as RuleView[]) as unknown as Record<string, unknown>;
}

export async function rulesOnShards(env: Env, namespace: string, topology: Topology, request: Request): Promise<Response> {
  try {
    const url = new URL(request.url);
    if (topology.shards > maxShards) throw new ApiError(501, 'not-implemented', `/api/rules asks every shard from one invocation: at most ${maxShards} shards`);
    const pinned = url.searchParams.get('shard');
    const shards = pinned === null ? [...Array(topology.shards).keys()] : [Number(pinned)];
    if (!shards.every((i) => Number.isInteger(i) && i >= 0 && i < topology.shards)) throw new ApiError(400, 'bad-request', `shard must be 0 to ${topology.shards - 1}`);
    const body = request.method === 'PUT' ? await readBody(request, maxBody) : undefined;
    const answers: Answer[] = await Promise.all(shards.map(async (i) => {
      const res = await env.SHARD.getByName(objectName(namespace, i)).rulesApi(new Request(request.url, { method: request.method, headers: request.headers, body }));
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }));
    const refused = answers.find((a) => a.status >= 300);
    if (refused) {
      const statuses = new Set(answers.map((a) => a.status));
      // the same check runs on every shard, so a refusal is every shard's; anything else is said
      return json(statuses.size === 1 ? refused.body : { ...refused.body, shards: answers.map((a, i) => ({ shard: shards[i], status: a.status })) }, statuses.size === 1 ? refused.status : 502);
    }
    return json(merge(url.pathname, answers, shards), answers[0].status);
  } catch (err) {
    return errorResponse(err);
  }
}
