// A topic-shard object of a sharded namespace (name `<namespace>#<index>`): translates RPC calls
// from gateways and session objects into ShardHost calls, then sends what they routed on, one
// batched call per gateway or session object. No MQTT rule lives here.
import { DurableObject } from 'cloudflare:workers';
import type { Message, StoredSubscription } from '../broker/index.ts';
import type { Accepted } from '../broker/remote.ts';
import { ShardHost, type Target } from '../broker/roles/shard-host.ts';
import { sessionObjectOf } from '../broker/shard-key.ts';
import type { Alarm } from './alarm.ts';
import type { Fabric } from './fabric.ts';
import type { Meter } from './meter.ts';
import { answerFor, askObject, type Member, type UnitsByRole } from './cost.ts';
import { roleParts, rpcCall } from './role-parts.ts';
import { SqliteLocations } from './sqlite/placement.ts';
import { SqliteRetainedStore } from './sqlite/retained-store.ts';
import { SqliteSessionStore } from './sqlite/session-store.ts';

export class ShardObject extends DurableObject<Env> {
  private readonly host: ShardHost;
  private readonly fabric: Fabric;
  private readonly meter: Meter;
  private readonly alarms: Alarm;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const { sql, topology, meter, alarms, fabric } = roleParts(ctx, env, 'shard');
    [this.meter, this.alarms, this.fabric] = [meter, alarms, fabric];
    this.host = new ShardHost({
      retained: new SqliteRetainedStore(sql), subscriptions: new SqliteSessionStore(sql), locations: new SqliteLocations(sql),
      clock: { now: () => Date.now() }, sessionObjectOf: (clientId) => sessionObjectOf(clientId, topology.sessions),
    });
    ctx.blockConcurrencyWhile(async () => {
      await this.alarms.load();
      await this.alarms.schedule([this.meter.settle(undefined, Date.now())]); // a new object's tables are rows written
    });
  }

  /**
   * Accepts messages from a gateway (`from`; null: a session object), in its order, and resolves
   * once they reached the other gateways and session objects they are for; those for the
   * caller's own gateway ride the answer.
   */
  async publish(messages: Message[], from: number | null): Promise<Accepted[]> {
    return this.event(async () => {
      const { reached, targets } = this.host.publish(messages);
      const own: Target = `gateway:${from ?? -1}`;
      const here = new Map((targets.get(own) ?? []).map((r) => [r.message, r.deliveries]));
      targets.delete(own);
      await this.fabric.route(targets);
      return messages.map((m, i) => ({ reached: reached[i], here: here.get(m) ?? [] }));
    });
  }

  /** `gateway` is where the client is; null: its session is away, with its session object. */
  async subscribe(clientId: string, gateway: number | null, subscriptions: StoredSubscription[], retained: boolean[]): Promise<Message[][]> {
    return this.event(async () => this.host.subscribe(clientId, gateway ?? 'away', subscriptions, retained));
  }

  async unsubscribe(clientId: string, topicFilters: string[]): Promise<void> {
    return this.event(async () => this.host.unsubscribe(clientId, topicFilters));
  }

  /** GET /api/cost: billed units of this object and of the group it answers for (these calls are not counted). */
  unitsOf(group: Member[]): Promise<UnitsByRole> {
    return answerFor('shards', this.meter.read(Date.now()), group, askObject(this.env));
  }

  override async alarm(): Promise<void> {
    this.alarms.fired();
    await this.alarms.schedule([this.meter.settle(undefined, Date.now())]);
  }

  private event<T>(work: () => Promise<T>): Promise<T> {
    return rpcCall(this.meter, work, async (start) => {
      const now = Date.now();
      this.meter.active(start, now);
      await this.alarms.schedule([this.meter.settle(undefined, now)]);
    });
  }
}
