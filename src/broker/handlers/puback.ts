import type { AckPacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** QoS 1 delivery to the client completes [MQTT-4.3.2-3]. */
export function handlePuback(conn: Connection, packet: AckPacket): void {
  conn.session?.puback(packet.packetId, conn);
}
