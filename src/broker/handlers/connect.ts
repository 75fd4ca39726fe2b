// CONNECT: validate, authenticate, take over a live client id, open or resume the session, CONNACK.
import {
  MqttError, ReasonCode, validateTopicName, isValidUtf8,
  type ConnackPacket, type ConnectPacket, type Properties,
} from '../../protocol/index.ts';
import { NeverExpires } from '../config.ts';
import type { Connection } from '../connection.ts';
import type { Principal } from '../hooks.ts';
import { beginAuth } from './auth.ts';
import { checkTopicLimits, checkUsername } from '../limits.ts';
import { platformLimits, storedRowBound } from '../platform.ts';
import { identityOf, notOwner, sessionOwnerMatches } from '../identity.ts';
import { persistentQuotaExceeded } from '../persistent-quota.ts';

/** Response Information names a topic root each client may use for responses to it. */
export const responsePrefix = 'response/';

/** What a CONNECT settled before authentication, to finish it now or after an AUTH exchange. */
interface Opening {
  packet: ConnectPacket;
  assigned?: string;
  serverKeepAlive?: number;
}

export async function handleConnect(conn: Connection, packet: ConnectPacket): Promise<void> {
  conn.version = packet.protocolVersion;
  conn.problemInformation = packet.properties?.requestProblemInformation !== 0;
  conn.username = packet.username;
  const assigned = packet.clientId === '' ? assignClientId(conn, packet) : undefined;
  conn.clientId = assigned ?? packet.clientId;
  validateConnect(conn, packet);
  const opening: Opening = { packet, assigned, serverKeepAlive: grantKeepalive(conn, packet.keepalive) };
  const method = packet.properties?.authenticationMethod;
  if (method !== undefined) {
    const finish = (principal: Principal, data?: Uint8Array) => accept(conn, opening, principal, { authenticationMethod: method, authenticationData: data });
    return beginAuth(conn, method, packet.properties?.authenticationData, finish); // [MQTT-4.12]
  }
  const verdict = await conn.broker.hooks.authenticate(conn.client, packet);
  if (typeof verdict === 'number') throw new MqttError(verdict, 'not authenticated');
  await accept(conn, opening, verdict);
}

/** Authenticated: check the will, take over a live client id, open or resume the session, CONNACK. */
async function accept(conn: Connection, opening: Opening, principal: Principal | undefined, auth?: Properties): Promise<void> {
  const { broker } = conn;
  const { packet } = opening;
  if (principal) conn.principal = principal;
  // an anonymous client keeps the name it gave (shown, never trusted); a verified one gets its
  // verified name (a token in the user name field must not be shown as one)
  if (principal && principal.method !== 'anonymous') conn.username = principal.username;
  checkUsername(conn);
  authorizeWill(conn, packet);
  // a session held here (the sharded session object checks the others) is its owner's alone
  const held = broker.sessions.store.get(conn.clientId);
  if (held && !sessionOwnerMatches(held.owner, identityOf(conn.principal))) throw notOwner();
  const live = broker.gateway.byClientId.get(conn.clientId);
  if (!live && broker.gateway.activeCount() >= broker.config.maxConnections) {
    throw new MqttError(ReasonCode.QuotaExceeded, 'connection limit reached');
  }
  const requested = conn.version === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : packet.clean ? 0 : NeverExpires;
  const expiry = Math.min(requested, broker.config.maxSessionExpiry);
  checkPersistentQuota(conn, expiry);
  if (live && live !== conn) live.disconnect(ReasonCode.SessionTakenOver); // [MQTT-3.1.4-3]
  // sharded: the client id's session object takes over a connection on any other gateway, and
  // checks its share of the persistent-session quota
  if (broker.remote?.sessions) await broker.sessions.claim(conn, packet.clean, expiry > 0);

  const { session, present, durable } = broker.sessions.open(conn, packet.clean, expiry, packet.will);
  conn.session = session;
  conn.durable = durable;
  conn.hasWill = packet.will !== undefined;
  conn.state = 'active';
  conn.window = conn.version === 5 ? (packet.properties?.receiveMaximum ?? 0xffff) : broker.config.maxInflight;
  conn.maxPacketSize = packet.properties?.maximumPacketSize ?? 0;
  broker.gateway.register(conn);
  conn.changed();

  const connack: ConnackPacket = { type: 'connack', sessionPresent: present, reasonCode: 0 }; // [MQTT-3.2.2-2]
  if (conn.version === 5) connack.properties = { ...connackProperties(conn, opening, expiry), ...auth };
  conn.send(connack);
  if (present) session.resume(conn);
  broker.hooks.emit('onConnect', conn.client);
}

/**
 * A new session that outlives its connection must fit the namespace's quota (default topology:
 * this object's store, a counted gauge; sharded: the session object checks the claim). Checked
 * before a live connection of the client id is taken over, so a refusal ends nothing.
 */
function checkPersistentQuota(conn: Connection, expiry: number): void {
  const { broker } = conn;
  if (expiry === 0 || broker.remote?.sessions) return;
  const held = broker.sessions.store.get(conn.clientId);
  if (held && held.expiryInterval > 0) return; // it has one already, resumed or replaced
  if (broker.sessions.store.persistentCount() >= broker.config.maxPersistentSessions) throw persistentQuotaExceeded();
}

/** What a v5 CONNACK tells the client about this server's limits and its own settings. */
function connackProperties(conn: Connection, opening: Opening, expiry: number): Properties {
  const config = conn.broker.config;
  const properties: Properties = {
    receiveMaximum: config.receiveMaximum, topicAliasMaximum: config.topicAliasMaximum, maximumPacketSize: config.maxPacketSize,
  };
  if (opening.assigned) properties.assignedClientIdentifier = opening.assigned; // [MQTT-3.2.2-16]
  if (opening.serverKeepAlive !== undefined) properties.serverKeepAlive = opening.serverKeepAlive; // [MQTT-3.2.2-21]
  const asked = opening.packet.properties?.sessionExpiryInterval;
  if (asked !== undefined && asked !== expiry) properties.sessionExpiryInterval = expiry; // capped
  if (opening.packet.properties?.requestResponseInformation === 1) {
    properties.responseInformation = `${responsePrefix}${conn.clientId}/`; // [MQTT-3.1.2-28] a topic root for replies
  }
  return properties;
}

function assignClientId(conn: Connection, packet: ConnectPacket): string {
  // [MQTT-3.1.3-8] 3.1.1 allows an empty id only with a clean session; 3.1 not at all
  if (conn.version === 3 || (conn.version === 4 && !packet.clean)) {
    throw new MqttError(ReasonCode.ClientIdentifierNotValid, 'empty client id needs a clean session');
  }
  return `auto-${crypto.randomUUID()}`; // [MQTT-3.1.3-6]
}

function validateConnect(conn: Connection, packet: ConnectPacket): void {
  const config = conn.broker.config;
  const maxLength = conn.version === 3 ? 23 : config.maxClientIdLength; // MQTT 3.1: 1 to 23 characters
  if (conn.clientId.length > maxLength) {
    throw new MqttError(ReasonCode.ClientIdentifierNotValid, `client id longer than ${maxLength}`);
  }
  const will = packet.will;
  if (!will) return;
  validateTopicName(will.topic); // [MQTT-3.1.3-11]
  checkTopicLimits(will.topic, config, ReasonCode.TopicNameInvalid);
  if (storedRowBound(will.topic, will.payload, will.properties, true) > platformLimits.row.value) {
    throw new MqttError(ReasonCode.PacketTooLarge, `will larger than a stored session row may be (${platformLimits.row.value} bytes)`);
  }
  if (will.properties?.payloadFormatIndicator === 1 && !isValidUtf8(will.payload)) {
    throw new MqttError(ReasonCode.PayloadFormatInvalid, 'will payload is not UTF-8'); // [MQTT-3.1.3-… ]
  }
}

/** The will is checked as a publish by the client, once it is known who the client is. */
function authorizeWill(conn: Connection, packet: ConnectPacket): void {
  const will = packet.will;
  if (!will) return;
  const denied = conn.broker.hooks.check('authorizePublish', conn.client, {
    type: 'publish', topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, dup: false,
  });
  if (denied !== undefined) throw new MqttError(denied, 'will topic not authorized');
}

/** Keepalive as granted; returns Server Keep Alive when it differs from what was asked. */
function grantKeepalive(conn: Connection, asked: number): number | undefined {
  const max = conn.broker.config.maxKeepalive;
  if (asked <= max && asked !== 0) return void (conn.keepalive = asked);
  if (asked === 0 && max >= 0xffff) return void (conn.keepalive = 0);
  // mosquitto's rule for 3.x, which cannot be told a keepalive: refuse the client
  if (conn.version < 5) throw new MqttError(ReasonCode.ClientIdentifierNotValid, `keepalive above ${max}s`);
  conn.keepalive = max;
  return max;
}
