// What a topic-shard or session object starts from: its SQLite (tables created), its meter, its
// one alarm, its place in the namespace and the calls to the namespace's other objects; and how
// every role object meters an RPC call it receives and an RPC session another object opens on it.
import { Alarm } from './alarm.ts';
import { configFromEnv } from './config.ts';
import { Fabric } from './fabric.ts';
import { Meter } from './meter.ts';
import type { Hold } from './rpc-session.ts';
import { migrate } from './sqlite/schema.ts';
import { Sql } from './sqlite/sql.ts';
import { parseObjectName, topologyFromEnv } from './topology.ts';

/**
 * An RPC call from another object: counted (unless `billed` is false: a call on an open RPC
 * session, whose opening was the billed request), run, and its time metered by `after`.
 */
export async function rpcCall<T>(meter: Meter, work: () => Promise<T>, after: (start: number) => Promise<void>, billed = true): Promise<T> {
  const start = Date.now();
  if (billed) meter.rpc();
  try {
    return await work();
  } finally {
    await after(start);
  }
}

export function roleParts(ctx: DurableObjectState, env: Env, role: 'shard' | 'session') {
  const sql = new Sql(ctx.storage.sql);
  migrate(sql);
  const { namespace, index } = parseObjectName(ctx.id.name);
  const topology = topologyFromEnv(env, namespace);
  const meter = new Meter(sql);
  return { sql, topology, meter, alarms: new Alarm(ctx.storage, () => meter.alarmSet()), fabric: new Fabric(env, namespace, topology, { role, index }, configFromEnv(env).callTimeout) };
}

/**
 * An RPC session another object opened on this one (rpc-session.ts): one billed request, and the
 * object held in memory, all of its time billed, until the session is closed or lost; `after`
 * runs then (the object's usual end of event, so the meter saves).
 */
export function hold(meter: Meter, after: () => void): Hold {
  meter.rpc();
  meter.held(Date.now());
  let open = true;
  return {
    released: () => {
      if (!open) return;
      open = false;
      meter.released(Date.now());
      after();
    },
  };
}
