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
  const identifier = packet.properties?.subscriptionIdentifiers?.[0];
  const accepted: Accepted[] = [];
  const reasonCodes = packet.subscriptions.map((sub) => {
    const result = subscribeOne(conn, { ...sub, identifier }, accepted);
    if (typeof result === 'number') return conn.version === 5 ? result : 0x80; // [MQTT-3.9.3-1]
    accepted.push(result);
    return result.subscription.qos;
  });
  // registered where it routes before SUBACK: a publish after it is matched [MQTT-3.8.4-3]
  const subscriptions = accepted.map((a) => a.subscription);
  const retained = await conn.broker.subscribe(conn.clientId, subscriptions, accepted.map((a) => a.sendRetained));
  conn.send({ type: 'suback', packetId: packet.packetId, reasonCodes }); // [MQTT-3.8.4-1]
  subscriptions.forEach((sub, i) => conn.broker.sendRetained(conn, sub, retained[i]));
}

interface Accepted {
  subscription: StoredSubscription;
  sendRetained: boolean;
}

function subscribeOne(conn: Connection, sub: StoredSubscription, accepted: Accepted[]): number | Accepted {
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
  const existing = broker.sessions.store.subscriptions(conn.clientId);
  const replacing = existing.some((s) => s.topicFilter === sub.topicFilter) || accepted.some((a) => a.subscription.topicFilter === sub.topicFilter);
  const adding = accepted.filter((a) => !existing.some((s) => s.topicFilter === a.subscription.topicFilter)).length;
  if (!replacing && existing.length + adding >= broker.config.maxSubscriptionsPerClient) return ReasonCode.QuotaExceeded;
  const denied = broker.hooks.check('authorizeSubscribe', conn.client, sub as Subscription);
  if (denied !== undefined) return denied;

  const handling = sub.retainHandling ?? 0;
  const sendRetained = !shared && (handling === 0 || (handling === 1 && !replacing)); // [MQTT-3.3.1-9..11]
  return { subscription: sub, sendRetained };
}
