import type { AckPacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** QoS 2 delivery to the client completes [MQTT-4.3.3-5]. */
export function handlePubcomp(conn: Connection, packet: AckPacket): void {
  conn.session?.pubcomp(packet.packetId, conn);
}
