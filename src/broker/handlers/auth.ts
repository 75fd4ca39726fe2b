import { MqttError, ReasonCode, type AuthPacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** No enhanced authentication method is offered, so an AUTH is never expected [MQTT-4.12.0-1]. */
export function handleAuth(_conn: Connection, _packet: AuthPacket): void {
  throw new MqttError(ReasonCode.ProtocolError, 'AUTH without an authentication method');
}
