// GET /api/cost?ns=: the billed units of every object of a namespace, summed and by role, with
// what they cost at list prices. A namespace may have up to 768 objects while one invocation may
// make only 50 subrequests on the Free plan
// (https://developers.cloudflare.com/workers/platform/limits/#subrequests), so the objects are
// asked as a tree: the Worker asks at most `fanOut` objects, each answering for itself and for a
// group of at most `fanOut` more, which it asks in turn. These calls are not counted as units.
import { billing, type Units } from './billing.ts';
import { isSharded, objectName, type Topology } from './topology.ts';

export type Role = 'broker' | 'gateways' | 'shards' | 'sessions';

/** One object of the namespace: its role and its name. */
export interface Member {
  role: Role;
  name: string;
}

/** Units summed by role, with how many objects answered for each. */
export type UnitsByRole = Partial<Record<Role, { units: Units; objects: number }>>;

/** Most calls one invocation makes: well under the Free plan's 50 subrequests. */
export const fanOut = 32;

/** Asks one object for its units and those of the group it is given. */
export type AskObject = (member: Member, group: Member[]) => Promise<UnitsByRole>;

const zero = (): Units => ({ requests: 0, rpcCalls: 0, websocketMessagesIn: 0, rowsRead: 0, rowsWritten: 0, activeMs: 0 });

const add = (a: Units, b: Units): Units => ({
  requests: a.requests + b.requests, rpcCalls: a.rpcCalls + b.rpcCalls,
  websocketMessagesIn: a.websocketMessagesIn + b.websocketMessagesIn,
  rowsRead: a.rowsRead + b.rowsRead, rowsWritten: a.rowsWritten + b.rowsWritten, activeMs: a.activeMs + b.activeMs,
});

export function merge(parts: UnitsByRole[]): UnitsByRole {
  const out: UnitsByRole = {};
  for (const part of parts) {
    for (const [role, entry] of Object.entries(part) as Array<[Role, { units: Units; objects: number }]>) {
      const into = (out[role] ??= { units: zero(), objects: 0 });
      into.units = add(into.units, entry.units);
      into.objects += entry.objects;
    }
  }
  return out;
}

/**
 * Asks every member, making at most `fanOut` calls here: the members are cut into at most
 * `fanOut` groups, and the first of each group answers for the rest of it.
 */
export async function gather(members: Member[], ask: AskObject): Promise<UnitsByRole> {
  const size = Math.ceil(members.length / fanOut);
  const groups: Member[][] = [];
  for (let i = 0; i < members.length; i += size) groups.push(members.slice(i, i + size));
  return merge(await Promise.all(groups.map(([head, ...rest]) => ask(head, rest))));
}

/** What an object answers: its own units under its role, plus its group's. */
export async function answerFor(role: Role, own: Units, group: Member[], ask: AskObject): Promise<UnitsByRole> {
  return merge([{ [role]: { units: own, objects: 1 } }, group.length ? await gather(group, ask) : {}]);
}

/** The RPC call to one object of the namespace, by role. */
export function askObject(env: Env): AskObject {
  return ({ role, name }, group) => {
    if (role === 'shards') return env.SHARD.getByName(name).unitsOf(group);
    if (role === 'sessions') return env.SESSION.getByName(name).unitsOf(group);
    return env.BROKER.getByName(name).unitsOf(group);
  };
}

/** Every object of a namespace. */
export function membersOf(namespace: string, topology: Topology): Member[] {
  if (!isSharded(topology)) return [{ role: 'broker', name: namespace }];
  const of = (role: Role, n: number) => Array.from({ length: n }, (_, i): Member => ({ role, name: objectName(namespace, i) }));
  return [...of('gateways', topology.gateways), ...of('shards', topology.shards), ...of('sessions', topology.sessions)];
}

export async function costOf(env: Env, namespace: string, topology: Topology) {
  const byRole = await gather(membersOf(namespace, topology), askObject(env));
  const entries = Object.entries(byRole) as Array<[Role, { units: Units; objects: number }]>;
  return {
    namespace, topology,
    total: { ...billing(entries.reduce((a, [, e]) => add(a, e.units), zero())), objects: entries.reduce((n, [, e]) => n + e.objects, 0) },
    byRole: Object.fromEntries(entries.map(([role, e]) => [role, { ...billing(e.units), objects: e.objects }])),
  };
}
