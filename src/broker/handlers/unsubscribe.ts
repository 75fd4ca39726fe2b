import { MqttError, ReasonCode, validateTopicFilter, type UnsubscribePacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** Removes each filter; UNSUBACK says which existed on v5 [MQTT-3.10.4-4, MQTT-3.11.3-1]. */
export function handleUnsubscribe(conn: Connection, packet: UnsubscribePacket): void {
  const codes = packet.topicFilters.map((filter) => unsubscribeOne(conn, filter));
  conn.send({ type: 'unsuback', packetId: packet.packetId, reasonCodes: conn.version === 5 ? codes : undefined });
}

function unsubscribeOne(conn: Connection, filter: string): number {
  try {
    validateTopicFilter(filter); // a malformed filter cannot name a subscription: v5 says so with 0x8F
  } catch (err) {
    if (err instanceof MqttError) return err.reasonCode;
    throw err;
  }
  return conn.broker.unsubscribe(conn.clientId, filter) ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted;
}
