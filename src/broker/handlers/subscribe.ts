// SUBSCRIBE: each filter validated, authorized and stored; SUBACK; then retained messages
// as the Retain Handling option says [MQTT-3.3.1-9..11, MQTT-3.8.4].
import {
  MqttError, ReasonCode, validateTopicFilter, parseSharedFilter,
  type SubscribePacket, type Subscription,
} from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';
import { checkTopicLimits } from '../limits.ts';
import type { StoredSubscription } from '../ports.ts';

export async function handleSubscribe(conn: Connection, packet: SubscribePacket): Promise<void> {
  checkFilterCount(conn, packet.subscriptions.length);
  const identifier = packet.properties?.subscriptionIdentifiers?.[0];
  // what the client holds, read once: a refused filter costs no row reads
  const held = new Set(conn.broker.sessions.store.subscriptions(conn.clientId).map((s) => s.topicFilter));
  const accepted = new Map<string, Accepted>();
  const reasonCodes = packet.subscriptions.map((sub) => {
    const result = subscribeOne(conn, { ...sub, identifier }, held, accepted);
    if (typeof result === 'number') return conn.version === 5 ? result : 0x80; // [MQTT-3.9.3-1]
    accepted.delete(sub.topicFilter); // a filter named twice: the last one counts [MQTT-3.8.4-3]
    accepted.set(sub.topicFilter, result);
    return result.subscription.qos;
  });
  // registered where it routes before SUBACK: a publish after it is matched [MQTT-3.8.4-3]
  const chosen = [...accepted.values()];
  const subscriptions = chosen.map((a) => a.subscription);
  const retained = await conn.broker.subscribe(conn.clientId, subscriptions, chosen.map((a) => a.sendRetained));
  // the routing index had no room (MQTT_MAX_SUBSCRIPTIONS): refused after all
  const full = new Set(subscriptions.filter((_, i) => !retained[i]).map((s) => s.topicFilter));
  const quota = conn.version === 5 ? ReasonCode.QuotaExceeded : 0x80;
  const codes = full.size ? reasonCodes.map((code, j) => (full.has(packet.subscriptions[j].topicFilter) && code < 0x80 ? quota : code)) : reasonCodes;
  conn.send({ type: 'suback', packetId: packet.packetId, reasonCodes: codes }); // [MQTT-3.8.4-1]
  subscriptions.forEach((sub, i) => {
    const found = retained[i];
    if (found) conn.broker.sendRetained(conn, sub, found);
  });
}

/**
 * A SUBSCRIBE or UNSUBSCRIBE naming more filters than a client may hold is refused whole, before
 * any of them costs anything: v5 DISCONNECT 0x97, 3.x close.
 */
export function checkFilterCount(conn: Connection, filters: number): void {
  const max = conn.broker.config.maxSubscriptionsPerClient;
  if (filters > max) throw new MqttError(ReasonCode.QuotaExceeded, `${filters} filters in one packet; a client may hold ${max}`);
}

interface Accepted {
  subscription: StoredSubscription;
  sendRetained: boolean;
}

function subscribeOne(conn: Connection, sub: StoredSubscription, held: Set<string>, accepted: Map<string, Accepted>): number | Accepted {
  const { broker } = conn;
  let shared;
  try {
    validateTopicFilter(sub.topicFilter);
    checkTopicLimits(sub.topicFilter, broker.config, ReasonCode.TopicFilterInvalid);
    shared = parseSharedFilter(sub.topicFilter);
  } catch (err) {
    if (err instanceof MqttError) return err.reasonCode;
    throw err;
  }
  if (shared && sub.noLocal) {
    throw new MqttError(ReasonCode.ProtocolError, 'No Local on a shared subscription'); // [MQTT-3.8.3-4]
  }
  const replacing = held.has(sub.topicFilter) || accepted.has(sub.topicFilter);
  if (!replacing && held.size + newOnes(held, accepted) >= broker.config.maxSubscriptionsPerClient) return ReasonCode.QuotaExceeded;
  const denied = broker.hooks.check('authorizeSubscribe', conn.client, sub as Subscription);
  if (denied !== undefined) return denied;

  const handling = sub.retainHandling ?? 0;
  const sendRetained = !shared && (handling === 0 || (handling === 1 && !held.has(sub.topicFilter))); // [MQTT-3.3.1-9..11]
  return { subscription: sub, sendRetained };
}

/** Filters accepted in this packet that the client did not hold before. */
function newOnes(held: Set<string>, accepted: Map<string, Accepted>): number {
  let n = 0;
  for (const filter of accepted.keys()) if (!held.has(filter)) n++;
  return n;
}
