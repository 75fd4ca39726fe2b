// A session object of a sharded namespace (name `<namespace>#<index>`, client ids hash to it):
// translates RPC calls from gateways and shards, and its alarm, into SessionOwner and broker
// calls. Its broker has no connections: it holds the persistent sessions whose client is away.
import { DurableObject } from 'cloudflare:workers';
import { Broker } from '../broker/index.ts';
import { MemoryRetainedStore } from '../broker/memory/memory-retained-store.ts';
import type { UserRecord } from '../broker/auth/index.ts';
import { SessionOwner } from '../broker/roles/session-owner.ts';
import type { Alarm } from './alarm.ts';
import { configFromEnv } from './config.ts';
import type { Fabric } from './fabric.ts';
import type { Meter } from './meter.ts';
import { answerFor, askObject, type Member, type UnitsByRole } from './cost.ts';
import { hold, roleParts, rpcCall } from './role-parts.ts';
import { SessionObjectSession } from './rpc-session.ts';
import { SqliteAttachments } from './sqlite/placement.ts';
import { SqliteSessionStore } from './sqlite/session-store.ts';
import { SqliteUsers } from './sqlite/user-store.ts';
import { dispatch } from './api/dispatch.ts';
import { userRoutes } from './api/users.ts';

export class SessionObject extends DurableObject<Env> {
  private readonly broker: Broker;
  private readonly owner: SessionOwner;
  private readonly fabric: Fabric;
  private readonly meter: Meter;
  private readonly alarms: Alarm;
  /** The namespace's user store, in session object #0 (the others' stays empty). */
  private readonly users: SqliteUsers;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const { sql, meter, alarms, fabric, topology } = roleParts(ctx, env, 'session');
    [this.meter, this.alarms, this.fabric] = [meter, alarms, fabric];
    this.users = new SqliteUsers(sql);
    this.broker = new Broker({
      sessions: new SqliteSessionStore(sql), retained: new MemoryRetainedStore(), config: configFromEnv(env), remote: this.fabric,
    });
    this.owner = new SessionOwner(this.broker, new SqliteAttachments(sql), this.fabric, topology.sessions);
    this.broker.start(() => true); // a session here with a connection id is lent to that connection's gateway
    ctx.blockConcurrencyWhile(async () => {
      await this.alarms.load();
      await this.alarms.schedule([this.broker.takeDue(), this.meter.settle(undefined, Date.now())]);
    });
  }

  /** An RPC session for a gateway's or shard's calls (rpc-session.ts): one billed request. */
  open(): SessionObjectSession {
    // SessionOwner's calls; enqueue's `from`: the gateway that found these clients gone, if one did
    return new SessionObjectSession({
      attach: (clientId, gateway, connectionId, owner, persistent) =>
        this.event(() => this.owner.attach(clientId, gateway, connectionId, owner, persistent), false),
      page: (clientId, connectionId, after) => this.event(async () => this.owner.page(clientId, connectionId, after), false),
      abandon: (clientId, connectionId) => this.event(() => this.owner.abandon(clientId, connectionId), false),
      stage: (clientId, connectionId, outbound, first) => this.event(async () => this.owner.stage(clientId, connectionId, outbound, first), false),
      detach: (clientId, connectionId, session, staged = false) => this.event(() => this.owner.detach(clientId, connectionId, session, staged), false),
      enqueue: (batch, from) => this.event(() => this.owner.enqueue(batch, from), false),
    }, hold(this.meter, () => void this.settle(Date.now(), false)));
  }

  /** A gateway authenticating a client asks #0 for a user of the store. */
  user(username: string): Promise<UserRecord | undefined> {
    return this.event(async () => this.users.get(username));
  }

  /** The admin API's /api/users routes, which the Worker sends to #0. */
  override async fetch(request: Request): Promise<Response> {
    const start = Date.now();
    this.meter.request();
    const response = await dispatch(userRoutes, { users: this.users }, request);
    await this.settle(start, false);
    return response;
  }

  /** GET /api/cost: billed units of this object and of the group it answers for (these calls are not counted). */
  unitsOf(group: Member[]): Promise<UnitsByRole> {
    return answerFor('sessions', this.meter.read(Date.now()), group, askObject(this.env));
  }

  /** Will delays and session expiry. */
  override async alarm(): Promise<void> {
    const start = Date.now();
    this.meter.request('alarm');
    this.alarms.fired();
    const next = this.broker.tick();
    if (next !== undefined) this.broker.due(next);
    await this.settle(start);
  }

  private event<T>(work: () => Promise<T>, billed = true): Promise<T> {
    return rpcCall(this.meter, work, (start) => this.settle(start, false), billed);
  }

  /** The alarm waits for the calls it made (wills, shard updates); a call from another object must not. */
  private async settle(start: number, waitForCalls = true): Promise<void> {
    if (waitForCalls) await this.fabric.settled();
    const now = Date.now();
    this.meter.active(start, now);
    await this.alarms.schedule([this.broker.takeDue(), this.meter.settle(undefined, now)]);
  }
}
