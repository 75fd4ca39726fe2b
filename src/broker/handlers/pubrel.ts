import { ReasonCode, type AckPacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** The client releases a QoS 2 message it sent: forget its id, answer PUBCOMP [MQTT-4.3.3-11]. */
export function handlePubrel(conn: Connection, packet: AckPacket): void {
  const known = conn.session!.released(packet.packetId);
  if (known && conn.incomingQoS2 > 0) {
    conn.incomingQoS2--;
    conn.changed();
  }
  const reasonCode = known ? undefined : ReasonCode.PacketIdentifierNotFound;
  conn.send({ type: 'pubcomp', packetId: packet.packetId, reasonCode });
}
