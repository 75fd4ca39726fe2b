import type { AckPacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** QoS 2 delivery to the client, step two: answer PUBREL [MQTT-4.3.3-4]. */
export function handlePubrec(conn: Connection, packet: AckPacket): void {
  conn.session?.pubrec(packet.packetId, packet.reasonCode ?? 0, conn);
}
