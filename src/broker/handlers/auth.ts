// v5 enhanced authentication [MQTT-4.12]: an exchange started by a CONNECT that names an
// Authentication Method (or by AUTH 0x19 to re-authenticate), continued by AUTH 0x18 packets
// until the method's hook names the principal. A method no hook offers is refused with 0x8C.
import { MqttError, ReasonCode, type AuthPacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';
import type { AuthExchange, Principal } from '../hooks.ts';
import { maxAuthMethodLength } from '../snapshot.ts';
import { checkUsername } from '../limits.ts';

/** An exchange in progress on a connection. */
export interface PendingAuth {
  method: string;
  exchange: AuthExchange;
  done(principal: Principal, data?: Uint8Array): void | Promise<void>;
}

export async function beginAuth(conn: Connection, method: string, data: Uint8Array | undefined, done: PendingAuth['done']): Promise<void> {
  if (method.length > maxAuthMethodLength) throw new MqttError(ReasonCode.BadAuthenticationMethod, 'authentication method name too long');
  const exchange = conn.broker.hooks.startAuth(conn.client, method);
  if (!exchange) throw new MqttError(ReasonCode.BadAuthenticationMethod, `authentication method ${method} is not offered`); // [MQTT-4.12.0-1]
  conn.auth = { method, exchange, done };
  await advance(conn, data);
}

export async function handleAuth(conn: Connection, packet: AuthPacket): Promise<void> {
  const method = packet.properties?.authenticationMethod;
  const reason = packet.reasonCode ?? ReasonCode.Success;
  if (!conn.auth && conn.state === 'active' && reason === ReasonCode.ReAuthenticate && method !== undefined && method === conn.authMethod) {
    return beginAuth(conn, method, packet.properties?.authenticationData, (p, d) => reauthenticated(conn, p, d)); // [MQTT-4.12.1-1]
  }
  if (!conn.auth) throw new MqttError(ReasonCode.ProtocolError, 'AUTH outside an authentication exchange'); // [MQTT-4.12.0-2]
  if (method !== conn.auth.method) throw new MqttError(ReasonCode.ProtocolError, 'AUTH with another authentication method'); // [MQTT-4.12.0-5]
  if (reason !== ReasonCode.ContinueAuthentication) throw new MqttError(ReasonCode.ProtocolError, `AUTH reason 0x${reason.toString(16)} from a client mid-exchange`);
  await advance(conn, packet.properties?.authenticationData);
}

async function advance(conn: Connection, data: Uint8Array | undefined): Promise<void> {
  const pending = conn.auth!;
  const result = await pending.exchange.step(data).catch((err: unknown) => {
    // a failed re-authentication ends the connection with a code DISCONNECT can carry [MQTT-4.12.1-2]
    if (conn.state === 'active' && err instanceof MqttError && err.reasonCode === ReasonCode.BadUserNameOrPassword) {
      throw new MqttError(ReasonCode.NotAuthorized, err.message);
    }
    throw err;
  });
  if ('challenge' in result) {
    const properties = { authenticationMethod: pending.method, authenticationData: result.challenge };
    return conn.send({ type: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties }); // [MQTT-4.12.0-3]
  }
  conn.auth = undefined;
  conn.authMethod = pending.method;
  await pending.done(result.principal, result.data);
}

/** A re-authentication succeeded: the new principal applies from now on [MQTT-4.12.1-2]. */
function reauthenticated(conn: Connection, principal: Principal, data: Uint8Array | undefined): void {
  [conn.principal, conn.username] = [principal, principal.username];
  checkUsername(conn);
  conn.changed();
  conn.send({ type: 'auth', reasonCode: ReasonCode.Success, properties: { authenticationMethod: conn.authMethod, authenticationData: data } });
}
