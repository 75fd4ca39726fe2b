// A session object's role in the sharded topology: for the client ids that hash to it, which
// gateway connection holds each one, and the persistent sessions whose client is away (their
// queues, will delays and expiry run in this object's SessionHost). It arbitrates client-id
// takeover across gateways [MQTT-3.1.4-3]: a new connection's claim first ends the old one,
// wherever it is, and waits for its session to come back here.
import type { Broker } from '../broker.ts';
import { pushTo } from '../multimap.ts';
import type { Routed, SessionExport } from '../remote.ts';

export interface Attachment {
  gateway: number;
  connectionId: string;
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

  constructor(broker: Broker, attachments: AttachmentStore, gateways: GatewayLink) {
    this.broker = broker;
    this.attachments = attachments;
    this.gateways = gateways;
  }

  /** A connection on `gateway` claims the client id; resolves with the session it had, taken from here. */
  attach(clientId: string, gateway: number, connectionId: string): Promise<SessionExport | undefined> {
    const before = this.claims.get(clientId) ?? Promise.resolve();
    const claim = before.catch(() => undefined).then(async () => {
      const old = this.attachments.get(clientId);
      if (old && !(old.gateway === gateway && old.connectionId === connectionId)) {
        await this.gateways.takeover(old.gateway, clientId, old.connectionId); // [MQTT-3.1.4-3]
      }
      this.attachments.set(clientId, { gateway, connectionId });
      return this.broker.sessions.surrender(clientId);
    });
    this.claims.set(clientId, claim);
    void claim.finally(() => {
      if (this.claims.get(clientId) === claim) this.claims.delete(clientId);
    }).catch(() => undefined);
    return claim;
  }

  /** A connection ended; a session that outlives it stays here, and the shards route its messages here. */
  async detach(clientId: string, connectionId: string, session: SessionExport | undefined): Promise<void> {
    if (this.attachments.get(clientId)?.connectionId === connectionId) this.attachments.delete(clientId);
    if (!session) return;
    this.broker.sessions.adopt({ ...session, state: { ...session.state, connectionId: undefined } });
    const { subscriptions } = session;
    if (subscriptions.length) await this.broker.remote!.shards.subscribe(clientId, subscriptions, subscriptions.map(() => false));
  }

  /**
   * Messages the shards routed to sessions that are away, or that a gateway (`from`) found gone:
   * queued here, or passed on to the gateway a session went back to meanwhile (back to `from`
   * only while the session is on its way there). Nobody's (the session ended) are dropped.
   */
  async enqueue(batch: Routed[], from: number | null = null): Promise<void> {
    const here: Routed[] = [];
    const live = new Map<number, Routed[]>();
    for (const { message, deliveries } of batch) {
      const kept = [];
      for (const d of deliveries) {
        const attached = this.attachments.get(d.clientId);
        const held = this.broker.sessions.store.get(d.clientId);
        // the gateway that found the client gone gets it back only if its session is not here:
        // its claim was answered and the session is still on its way there
        if (attached && (attached.gateway !== from || !held)) pushTo(live, attached.gateway, { message, deliveries: [d] });
        else if (held) kept.push(d);
      }
      if (kept.length) here.push({ message, deliveries: kept });
    }
    this.broker.deliverRouted(here);
    await Promise.all([...live].map(([gateway, routed]) => this.gateways.forward(gateway, routed)));
  }
}
