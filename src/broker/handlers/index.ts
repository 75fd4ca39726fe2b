// The state gate: CONNECT first and once [MQTT-3.1.0-1, MQTT-3.1.0-2], then one handler per packet.
import { MqttError, ReasonCode, type Packet } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';
import { handleConnect } from './connect.ts';
import { handlePublish } from './publish.ts';
import { handlePuback } from './puback.ts';
import { handlePubrec } from './pubrec.ts';
import { handlePubrel } from './pubrel.ts';
import { handlePubcomp } from './pubcomp.ts';
import { handleSubscribe } from './subscribe.ts';
import { handleUnsubscribe } from './unsubscribe.ts';
import { handlePingreq } from './pingreq.ts';
import { handleDisconnect } from './disconnect.ts';
import { handleAuth } from './auth.ts';

type Handler<P extends Packet> = (conn: Connection, packet: P) => void | Promise<void>;
type Handlers = { [T in Packet['type']]?: Handler<Extract<Packet, { type: T }>> };

const handlers: Handlers = {
  connect: handleConnect,
  publish: handlePublish,
  puback: handlePuback,
  pubrec: handlePubrec,
  pubrel: handlePubrel,
  pubcomp: handlePubcomp,
  subscribe: handleSubscribe,
  unsubscribe: handleUnsubscribe,
  pingreq: handlePingreq,
  disconnect: handleDisconnect,
  auth: handleAuth,
};

export function dispatch(conn: Connection, packet: Packet): void | Promise<void> {
  const midExchange = conn.state === 'awaiting-connect' && conn.auth !== undefined; // [MQTT-4.12.0-3]
  if (conn.state === 'awaiting-connect' && packet.type !== 'connect' && !(midExchange && packet.type === 'auth')) {
    throw new MqttError(ReasonCode.ProtocolError, 'the first packet must be CONNECT'); // [MQTT-3.1.0-1]
  }
  if ((conn.state === 'active' || midExchange) && packet.type === 'connect') {
    throw new MqttError(ReasonCode.ProtocolError, 'a second CONNECT'); // [MQTT-3.1.0-2]
  }
  const handler = handlers[packet.type] as Handler<Packet> | undefined;
  if (!handler) throw new MqttError(ReasonCode.ProtocolError, `${packet.type.toUpperCase()} is not sent by clients`);
  return handler(conn, packet);
}
