// A session object's role in the sharded topology: for the client ids that hash to it, which
// gateway connection holds each one, and the persistent sessions whose client is away (their
// queues, will delays and expiry run in this object's SessionHost). It arbitrates client-id
// takeover across gateways [MQTT-3.1.4-3]: a new connection's claim first ends the old one,
// wherever it is, and waits for its session to come back here.
import type { Broker } from '../broker.ts';
import { notOwner, sessionOwnerMatches } from '../identity.ts';
import { pushTo } from '../multimap.ts';
import type { Routed, SessionExport } from '../remote.ts';
import type { OutboundMessage } from '../ports.ts';

export interface Attachment {
  gateway: number;
  connectionId: string;
  /** The identity the connection authenticated as (identityOf); unset: anonymous. */
  owner?: string;
}

export interface AttachmentStore {
  get(clientId: string): Attachment | undefined;
  set(clientId: string, attachment: Attachment): void;
  delete(clientId: string): void;
}

/** What a session object asks of gateways. */
export interface GatewayLink {
  /** Ends a connection with Session taken over and resolves once its session left the gateway. */
  takeover(gateway: number, clientId: string, connectionId: string): Promise<void>;
  /** Messages for sessions live on that gateway. */
  forward(gateway: number, batch: Routed[]): Promise<void>;
}

export class SessionOwner {
  private readonly broker: Broker;
  private readonly attachments: AttachmentStore;
  private readonly gateways: GatewayLink;
  /** Claims of one client id run one after the other. */
  private readonly claims = new Map<string, Promise<unknown>>();
  /** Hand-overs that came again after they were taken (their first answer missed its deadline). */
  repeated = 0;
  /** Pages of sessions on their way here, by client id and connection id. */
  private readonly staged = new Map<string, OutboundMessage[]>();

  constructor(broker: Broker, attachments: AttachmentStore, gateways: GatewayLink) {
    this.broker = broker;
    this.attachments = attachments;
    this.gateways = gateways;
  }

  /**
   * A connection on `gateway`, of identity `owner`, claims the client id; resolves with the
   * session it had (its first page of messages; `page` gives the rest), lent from here until it
   * comes back. Throws notOwner() when a live or away session of the client id belongs to another
   * identity (nothing is taken over or ended then).
   */
  attach(clientId: string, gateway: number, connectionId: string, owner?: string): Promise<SessionExport | undefined> {
    const before = this.claims.get(clientId) ?? Promise.resolve();
    const claim = before.catch(() => undefined).then(async () => {
      const old = this.attachments.get(clientId);
      const held = old ? old.owner : this.broker.sessions.store.get(clientId)?.owner;
      if (!sessionOwnerMatches(held, owner)) throw notOwner();
      if (old && !(old.gateway === gateway && old.connectionId === connectionId)) {
        await this.gateways.takeover(old.gateway, clientId, old.connectionId); // [MQTT-3.1.4-3]
      }
      this.attachments.set(clientId, owner === undefined ? { gateway, connectionId } : { gateway, connectionId, owner });
      return this.broker.sessions.lend(clientId, connectionId);
    });
    this.claims.set(clientId, claim);
    void claim.finally(() => {
      if (this.claims.get(clientId) === claim) this.claims.delete(clientId);
    }).catch(() => undefined);
    return claim;
  }

  /** The next page of a lent session's messages. */
  page(clientId: string, connectionId: string, after: number): { outbound: OutboundMessage[]; more: boolean } {
    return this.broker.sessions.page(clientId, connectionId, after);
  }

  /** A claim that failed after it was answered: the session is away here again. */
  async abandon(clientId: string, connectionId: string): Promise<void> {
    if (this.attachments.get(clientId)?.connectionId !== connectionId) return;
    this.attachments.delete(clientId);
    const away = this.broker.sessions.abandon(clientId, connectionId);
    const subscriptions = away ? this.broker.sessions.store.subscriptions(clientId) : [];
    if (subscriptions.length) await this.broker.remote!.shards.subscribe(clientId, subscriptions, subscriptions.map(() => false));
  }

  /**
   * Pages of a session's messages ahead of its `detach` (a session too large for one call): kept
   * in memory, in order, until the detach that ends them; a restart between loses them, and the
   * detach then fails, so the gateway sends them all again.
   */
  stage(clientId: string, connectionId: string, outbound: OutboundMessage[], first: boolean): void {
    const key = `${clientId}\n${connectionId}`;
    if (first) this.staged.set(key, []);
    const pages = this.staged.get(key);
    if (!pages) throw new Error(`pages of ${clientId} lost; send them again`);
    pages.push(...outbound);
  }

  /**
   * A connection ended; a session that outlives it stays here (after the pages staged for it, when
   * `staged`), and the shards route its messages here. One that did not outlive it is gone here too.
   */
  async detach(clientId: string, connectionId: string, session: SessionExport | undefined, staged = false): Promise<void> {
    if (this.attachments.get(clientId)?.connectionId === connectionId) this.attachments.delete(clientId);
    if (!session) return this.broker.sessions.ended(clientId, connectionId);
    const key = `${clientId}\n${connectionId}`;
    const held = this.broker.sessions.store.get(clientId);
    if (held && held.connectionId !== connectionId) {
      // the session here is newer: this hand-over was taken already (its answer missed its
      // deadline, and the gateway sent it again) or the session moved on since
      this.staged.delete(key);
      this.repeated++;
      return this.broker.log('info', `hand-over of ${clientId} from ${connectionId} came again after it was taken; ignored (${this.repeated} so far)`);
    }
    if (staged) {
      const pages = this.staged.get(key);
      this.staged.delete(key);
      if (!pages) throw new Error(`pages of ${clientId} lost; send them again`);
      session = { ...session, outbound: [...pages, ...session.outbound] };
    }
    this.broker.sessions.adopt({ ...session, state: { ...session.state, connectionId: undefined } });
    const { subscriptions } = session;
    if (subscriptions.length) await this.broker.remote!.shards.subscribe(clientId, subscriptions, subscriptions.map(() => false));
  }

  /**
   * Messages the shards routed to sessions that are away, or that a gateway (`from`) found gone:
   * queued here, or passed on to the gateway a session went back to meanwhile (never back to
   * `from`). Nobody's (the session ended) are dropped.
   *
   * What a gateway passes back for the connection still attached here (`Delivery.connectionId`)
   * stays here, held apart until that connection's session comes back (SessionHost.rejoin).
   */
  async enqueue(batch: Routed[], from: number | null = null): Promise<void> {
    const here: Routed[] = [];
    const live = new Map<number, Routed[]>();
    for (const { message, deliveries } of batch) {
      const kept = [];
      for (const d of deliveries) {
        const attached = this.attachments.get(d.clientId);
        // on to the connection the session is lent to; unless that connection's gateway passed it
        // back (the claim failed or the client left): the copy lent from here is the session then
        const back = attached && attached.gateway === from && attached.connectionId === d.connectionId;
        if (attached && !back) pushTo(live, attached.gateway, { message, deliveries: [{ ...d, connectionId: attached.connectionId }] });
        // passed back for a connection still attached: kept for its session, even one that is new
        // and not here yet (it comes with the hand-over)
        else if (back || this.broker.sessions.store.get(d.clientId)) kept.push(d);
      }
      if (kept.length) here.push({ message, deliveries: kept });
    }
    this.broker.deliverRouted(here);
    await Promise.all([...live].map(([gateway, routed]) => this.gateways.forward(gateway, routed)));
  }
}
