import { MqttError, ReasonCode, type DisconnectPacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';

/** A client's DISCONNECT: 0x04 keeps the will [MQTT-3.14.4-3]; anything else discards it. */
export function handleDisconnect(conn: Connection, packet: DisconnectPacket): void {
  const expiry = packet.properties?.sessionExpiryInterval;
  if (expiry !== undefined) {
    const state = conn.broker.sessions.store.get(conn.clientId);
    if (state?.expiryInterval === 0 && expiry !== 0) {
      throw new MqttError(ReasonCode.ProtocolError, 'session expiry set on DISCONNECT after 0 on CONNECT'); // [MQTT-3.14.2-2]
    }
    if (state) conn.broker.sessions.store.put({ ...state, expiryInterval: Math.min(expiry, conn.broker.config.maxSessionExpiry) });
  }
  conn.close(packet.reasonCode === ReasonCode.DisconnectWithWillMessage ? 'abnormal' : 'normal');
}
