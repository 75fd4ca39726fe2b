// Gateway role: the live connections of this object, by connection id and by client id;
// their keepalive and CONNECT deadlines; and the coalesced flush at the end of each event.
import { ReasonCode } from '../../protocol/index.ts';
import type { Broker } from '../broker.ts';
import { Connection, type ConnectionSnapshot } from '../connection.ts';
import type { Link } from '../ports.ts';

export class Gateway {
  readonly connections = new Map<string, Connection>();
  readonly byClientId = new Map<string, Connection>();
  private readonly dirty = new Set<Connection>();
  /** Connections waiting for a later turn (`nextTurn`). */
  private readonly turns = new Set<Connection>();
  /** Bytes all connections hold of packets not yet complete (config.maxPartialPacketBytes). */
  partialBytes = 0;

  private readonly broker: Broker;

  constructor(broker: Broker) {
    this.broker = broker;
  }

  open(id: string, link: Link, snapshot?: ConnectionSnapshot): Connection {
    const conn = new Connection(id, this.broker, link, snapshot);
    this.connections.set(id, conn);
    if (conn.state === 'active') this.byClientId.set(conn.clientId, conn);
    const deadline = conn.deadline();
    if (deadline !== undefined) this.broker.due(deadline);
    return conn;
  }

  /** A connection finished CONNECT. */
  register(conn: Connection): void {
    this.byClientId.set(conn.clientId, conn);
    const deadline = conn.deadline();
    if (deadline !== undefined) this.broker.due(deadline);
    if (conn.hasWill) this.watch(this.broker.clock.now());
  }

  /**
   * While a connection with a will is open, the object's alarm is never further than
   * willCheckInterval ahead: after a restart that took the connection with it, the alarm wakes the
   * object, whose start treats the connection as gone and publishes the will, with no other traffic.
   */
  private watch(now: number): number | undefined {
    const interval = this.broker.config.willCheckInterval;
    if (interval === 0) return undefined;
    const at = now + interval * 1000;
    this.broker.due(at);
    return at;
  }

  activeCount(): number {
    return this.byClientId.size;
  }

  closed(conn: Connection, how: 'normal' | 'abnormal' | 'takeover'): void {
    this.connections.delete(conn.id);
    this.partialBytes -= conn.partial;
    conn.partial = 0;
    if (this.byClientId.get(conn.clientId) !== conn) return;
    this.byClientId.delete(conn.clientId);
    this.broker.sessions.disconnected(conn, how);
    this.broker.hooks.emit('onDisconnect', conn.client, how);
  }

  markDirty(conn: Connection): void {
    this.dirty.add(conn);
  }

  flush(): void {
    for (const conn of this.dirty) conn.flush();
    this.dirty.clear();
  }

  /** Runs a connection's `turn` (a drain's next step) in a later turn of the object (Broker.defer), then flushes. */
  nextTurn(conn: Connection): void {
    if (!this.turns.size) {
      this.broker.defer(() => {
        for (const c of this.turns) c.turn();
        this.turns.clear();
        this.flush();
      });
    }
    this.turns.add(conn);
  }

  /**
   * Sharded topology: a connection on another gateway claimed this client id. Ends ours with
   * Session taken over [MQTT-3.1.4-3]; resolves once its session is with its session object.
   */
  async takeOver(clientId: string, connectionId: string): Promise<void> {
    // its claim was answered already: let its session arrive (and CONNACK go out) before ending
    // it, even if the connection closed meanwhile: its session is on its way here all the same
    await this.broker.sessions.arrived(connectionId);
    const conn = this.connections.get(connectionId);
    if (conn?.clientId === clientId) conn.disconnect(ReasonCode.SessionTakenOver);
    await this.broker.sessions.release(clientId);
  }

  /** Closes connections past their deadline; returns the next deadline. */
  sweep(now: number): number | undefined {
    let next: number | undefined;
    for (const conn of [...this.connections.values()]) {
      const deadline = conn.deadline();
      if (deadline === undefined) continue;
      if (deadline > now) next = Math.min(next ?? deadline, deadline);
      else conn.overdue(now);
    }
    const watched = [...this.byClientId.values()].some((c) => c.hasWill) ? this.watch(now) : undefined;
    if (watched !== undefined) next = Math.min(next ?? watched, watched);
    return next;
  }
}
