// GET /api/cost?ns=: the billed units of every object of a namespace, summed and by role, with
// what they cost at list prices. The Worker asks each object (those calls are not counted).
import { billing, type Units } from './billing.ts';
import { isSharded, objectName, type Topology } from './topology.ts';

const sum = (all: Units[]): Units => all.reduce((a, u) => ({
  requests: a.requests + u.requests, rpcCalls: a.rpcCalls + u.rpcCalls, websocketMessagesIn: a.websocketMessagesIn + u.websocketMessagesIn,
  rowsRead: a.rowsRead + u.rowsRead, rowsWritten: a.rowsWritten + u.rowsWritten, activeMs: a.activeMs + u.activeMs,
}), { requests: 0, rpcCalls: 0, websocketMessagesIn: 0, rowsRead: 0, rowsWritten: 0, activeMs: 0 });

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export async function costOf(env: Env, namespace: string, topology: Topology) {
  const roles: Record<string, Units[]> = isSharded(topology)
    ? {
      gateways: await Promise.all(range(topology.gateways).map((i) => env.BROKER.getByName(objectName(namespace, i)).units())),
      shards: await Promise.all(range(topology.shards).map((i) => env.SHARD.getByName(objectName(namespace, i)).units())),
      sessions: await Promise.all(range(topology.sessions).map((i) => env.SESSION.getByName(objectName(namespace, i)).units())),
    }
    : { broker: [await env.BROKER.getByName(namespace).units()] };
  const byRole = Object.fromEntries(Object.entries(roles).map(([role, units]) => [role, billing(sum(units))]));
  return { namespace, topology, total: billing(sum(Object.values(roles).flat())), byRole };
}
