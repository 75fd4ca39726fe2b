import { ReasonCode, type UnsubscribePacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** Removes each filter; UNSUBACK says which existed on v5 [MQTT-3.10.4-4, MQTT-3.11.3-1]. */
export function handleUnsubscribe(conn: Connection, packet: UnsubscribePacket): void {
  const codes = packet.topicFilters.map((filter) =>
    conn.broker.unsubscribe(conn.clientId, filter) ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted,
  );
  conn.send({ type: 'unsuback', packetId: packet.packetId, reasonCodes: conn.version === 5 ? codes : undefined });
}
