// Clients as the HTTP API shows them: every session, connected or away, with what its live
// connection knows; one client in detail; and the administrator's kick.
import { MqttError, ReasonCode, isReasonCodeAllowed, reasonCodeName } from '../../protocol/index.ts';
import type { Broker } from '../broker.ts';
import type { Message, OutboundMessage, SessionState, StoredSubscription } from '../ports.ts';

export interface ClientSummary {
  clientId: string;
  connected: boolean;
  /** Seconds; 0 ends the session with the connection. */
  sessionExpiryInterval: number;
  username?: string;
  protocolVersion?: number;
  keepalive?: number;
  connectedAt?: number;
  lastActivity?: number;
  disconnectedAt?: number;
}

export interface QueuedMessage extends Omit<Message, 'publisher'> {
  /** queued: not sent yet; sent: awaiting PUBACK/PUBREC; released: PUBREL sent, awaiting PUBCOMP. */
  state: OutboundMessage['state'];
  packetId?: number;
}

export interface ClientDetail extends ClientSummary {
  subscriptions: StoredSubscription[];
  /** How many QoS 1/2 messages are queued for or in flight to the session. */
  queued: number;
  /** The first `limit` of them, in delivery order. */
  messages: QueuedMessage[];
}

function summary(broker: Broker, state: SessionState): ClientSummary {
  const conn = broker.gateway.byClientId.get(state.clientId);
  const s: ClientSummary = { clientId: state.clientId, connected: !!conn, sessionExpiryInterval: state.expiryInterval };
  if (conn) {
    Object.assign(s, {
      username: conn.username, protocolVersion: conn.version, keepalive: conn.keepalive,
      connectedAt: conn.openedAt, lastActivity: conn.lastActivity,
    });
  } else if (state.disconnectedAt !== undefined) s.disconnectedAt = state.disconnectedAt;
  return s;
}

/** Sessions by client id, the first `limit` of them. */
export function listClients(broker: Broker, limit: number): { clients: ClientSummary[]; total: number } {
  const states = broker.sessions.store.list().sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  return { clients: states.slice(0, limit).map((s) => summary(broker, s)), total: states.length };
}

export function describeClient(broker: Broker, clientId: string, limit = 1000): ClientDetail | undefined {
  const state = broker.sessions.store.get(clientId);
  if (!state) return undefined;
  const outbound = broker.sessions.outbound(clientId);
  const messages = outbound.slice(0, limit).map(({ message: { publisher: _publisher, ...m }, state, packetId }) => ({ ...m, state, packetId }));
  return { ...summary(broker, state), subscriptions: broker.sessions.store.subscriptions(clientId), queued: outbound.length, messages };
}

/** Ends a live connection with a v5 DISCONNECT reason code (3.x: closed); false when not connected. */
export function kick(broker: Broker, clientId: string, reasonCode: number = ReasonCode.AdministrativeAction): boolean {
  if (reasonCode < 0x80 || !isReasonCodeAllowed(reasonCode, 'disconnect')) {
    throw new MqttError(ReasonCode.ProtocolError, `0x${reasonCode.toString(16)} is not a DISCONNECT reason code that ends a connection`);
  }
  const conn = broker.gateway.byClientId.get(clientId);
  if (!conn) return false;
  conn.disconnect(reasonCode, `disconnected by an administrator (${reasonCodeName(reasonCode)})`);
  return true;
}
