// A session object's role in the sharded topology: for the client ids that hash to it, which
// gateway connection holds each one, and the persistent sessions whose client is away (their
// queues, will delays and expiry run in this object's SessionHost). It arbitrates client-id
// takeover across gateways [MQTT-3.1.4-3]: a new connection's claim first ends the old one,
// wherever it is, and waits for its session to come back here. It keeps its share of the
// persistent-session quota for its client ids (persistent-quota.ts).
import type { Broker } from '../broker.ts';
import { notOwner, sessionOwnerMatches } from '../identity.ts';
import { pushTo } from '../multimap.ts';
import { persistentQuotaExceeded, persistentShare } from '../persistent-quota.ts';
import type { Routed, SessionExport } from '../remote.ts';
import { unpackRouted, type PackedRouted } from '../packed.ts';
import type { OutboundMessage, SessionState } from '../ports.ts';

export interface Attachment {
  gateway: number;
  connectionId: string;
  /** The identity the connection authenticated as (identityOf); unset: anonymous. */
  owner?: string;
  /**
   * Set when the connection opened a new persistent session, of which this object holds nothing
   * yet: it counts against the quota here until it comes back (a session held here counts itself).
   */
  counted?: true;
}

export interface AttachmentStore {
  get(clientId: string): Attachment | undefined;
  set(clientId: string, attachment: Attachment): void;
  delete(clientId: string): void;
  /** Attachments with `counted`: a kept count, not a scan. */
  counted(): number;
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
  /**
   * Sessions on their way here in pages: the connection each client id's staged pages are of.
   * The pages themselves are in the store (stagedKey), never in memory.
   */
  private readonly staging = new Map<string, string>();
  /** Persistent sessions this object may hold: its share of MQTT_MAX_PERSISTENT_SESSIONS. */
  private readonly places: number;
  /** Claims of new persistent sessions that passed the quota and wait on a takeover: their places are taken. */
  private readonly reserved = new Set<string>();

  /** `sessionObjects`: how many session objects the namespace has (the quota is shared among them). */
  constructor(broker: Broker, attachments: AttachmentStore, gateways: GatewayLink, sessionObjects: number) {
    this.broker = broker;
    this.attachments = attachments;
    this.gateways = gateways;
    this.places = persistentShare(broker.config, sessionObjects);
  }

  /**
   * A connection on `gateway`, of identity `owner`, claims the client id; resolves with the
   * session it had (its first page of messages; `page` gives the rest), lent from here until it
   * comes back. Throws notOwner() when a live or away session of the client id belongs to another
   * identity, and persistentQuotaExceeded() when `persistent` asks for a new persistent session
   * and this object's places are all taken (nothing is taken over or ended then).
   */
  attach(clientId: string, gateway: number, connectionId: string, owner?: string, persistent = false): Promise<SessionExport | undefined> {
    const before = this.claims.get(clientId) ?? Promise.resolve();
    const claim = before.catch(() => undefined).then(async () => {
      const old = this.attachments.get(clientId);
      const stored = this.broker.sessions.store.get(clientId);
      const held = old ? old.owner : stored?.owner;
      if (!sessionOwnerMatches(held, owner)) throw notOwner();
      // an existing persistent session (here, or new on the connection taken over) keeps its place
      const taking = persistent && !old?.counted && !outlives(stored);
      if (taking) this.reserve(connectionId);
      try {
        if (old && !(old.gateway === gateway && old.connectionId === connectionId)) {
          await this.gateways.takeover(old.gateway, clientId, old.connectionId); // [MQTT-3.1.4-3]
        }
      } finally {
        this.reserved.delete(connectionId);
      }
      // the session taken over is here now if it outlived its connection: it counts itself
      const counted = persistent && !outlives(this.broker.sessions.store.get(clientId));
      this.attachments.set(clientId, { gateway, connectionId, ...(owner === undefined ? {} : { owner }), ...(counted ? { counted } : {}) });
      return this.broker.sessions.lend(clientId, connectionId);
    });
    this.claims.set(clientId, claim);
    void claim.finally(() => {
      if (this.claims.get(clientId) === claim) this.claims.delete(clientId);
    }).catch(() => undefined);
    return claim;
  }

  /**
   * Takes a place for a new persistent session, or refuses it when every place is taken: by a
   * session held here (away or lent), by a connection's new one (`counted`), or by a claim waiting
   * on its takeover. A place freed during a takeover by the session taken over goes to the claim
   * of its client id without a second check.
   */
  private reserve(connectionId: string): void {
    const taken = this.broker.sessions.store.persistentCount() + this.attachments.counted() + this.reserved.size;
    if (taken >= this.places) throw persistentQuotaExceeded();
    this.reserved.add(connectionId);
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
   * Pages of a session's messages ahead of its `detach` (a session too large for one call): written
   * to the store as they come, one row per message (each under SQLite's 2 MB row, as
   * MQTT_MAX_PACKET_SIZE is checked against it), so a page is held only during its call. A restart
   * between pages forgets which connection they are of: the next page or the detach then fails,
   * and the gateway sends them all again (the first page clears what an earlier try left).
   */
  stage(clientId: string, connectionId: string, outbound: OutboundMessage[], first: boolean): void {
    const { store } = this.broker.sessions;
    if (first) {
      store.delete(stagedKey(clientId));
      this.staging.set(clientId, connectionId);
    }
    if (this.staging.get(clientId) !== connectionId) throw new Error(`pages of ${clientId} lost; send them again`);
    for (const { seq: _seq, ...entry } of outbound) store.enqueue(stagedKey(clientId), entry);
  }

  /**
   * A connection ended; a session that outlives it stays here (after the pages staged for it, when
   * `staged`), and the shards route its messages here. One that did not outlive it is gone here too.
   */
  async detach(clientId: string, connectionId: string, session: SessionExport | undefined, staged = false): Promise<void> {
    if (staged && this.staging.get(clientId) !== connectionId) throw new Error(`pages of ${clientId} lost; send them again`);
    if (this.attachments.get(clientId)?.connectionId === connectionId) this.attachments.delete(clientId);
    if (!session) return this.broker.sessions.ended(clientId, connectionId);
    const held = this.broker.sessions.store.get(clientId);
    if (held && held.connectionId !== connectionId) {
      // the session here is newer: this hand-over was taken already (its answer missed its
      // deadline, and the gateway sent it again) or the session moved on since
      if (staged) this.unstage(clientId);
      this.repeated++;
      return this.broker.log('info', `hand-over of ${clientId} from ${connectionId} came again after it was taken; ignored (${this.repeated} so far)`);
    }
    this.broker.sessions.adopt({ ...session, state: { ...session.state, connectionId: undefined } });
    if (staged) {
      // staged rows were given their seqs first, so they go ahead of the last page and of what adopt rejoined
      this.broker.sessions.store.moveOutbound(stagedKey(clientId), clientId);
      this.staging.delete(clientId);
    }
    const { subscriptions } = session;
    if (subscriptions.length) await this.broker.remote!.shards.subscribe(clientId, subscriptions, subscriptions.map(() => false));
  }

  /** Drops the pages staged for a client id's hand-over. */
  private unstage(clientId: string): void {
    this.broker.sessions.store.delete(stagedKey(clientId));
    this.staging.delete(clientId);
  }

  /**
   * Messages the shards routed to sessions that are away, or that a gateway (`from`) found gone:
   * queued here, or passed on to the gateway a session went back to meanwhile (never back to
   * `from`). Nobody's (the session ended) are dropped.
   *
   * What a gateway passes back for the connection still attached here (`Delivery.connectionId`)
   * stays here, held apart until that connection's session comes back (SessionHost.rejoin).
   */
  async enqueue(batch: PackedRouted, from: number | null = null): Promise<void> {
    const here: Routed[] = [];
    const live = new Map<number, Routed[]>();
    for (const { message, deliveries } of unpackRouted(batch)) {
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

/** Whether a stored session outlives its connection (it holds a place of the quota). */
function outlives(state: SessionState | undefined): boolean {
  return !!state && state.expiryInterval > 0;
}

/** Where a session object keeps the pages of a session on its way here (not a session of its own). */
function stagedKey(clientId: string): string {
  return `\u0000staged:${clientId}`;
}
