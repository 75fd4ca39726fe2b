import type { PingreqPacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** [MQTT-3.12.4-1] */
export function handlePingreq(conn: Connection, _packet: PingreqPacket): void {
  conn.send({ type: 'pingresp' });
}
