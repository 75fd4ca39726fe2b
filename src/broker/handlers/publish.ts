// PUBLISH from a client: resolve the topic alias, validate, authorize, then act by QoS
// (0: route; 1: route, PUBACK; 2: store the id, route once, PUBREC) [MQTT-4.3].
import {
  MqttError, ReasonCode, validateTopicName, isValidUtf8,
  type Properties, type PublishPacket,
} from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';
import { checkTopicLimits } from '../limits.ts';
import { checkPublishRate } from '../rate-limit.ts';
import { platformLimits, storedRowBound } from '../platform.ts';
import type { Message } from '../ports.ts';

export function handlePublish(conn: Connection, packet: PublishPacket): void {
  const { broker } = conn;
  checkPublishRate(conn, packet.payload.length);
  if (packet.properties?.subscriptionIdentifiers) {
    throw new MqttError(ReasonCode.ProtocolError, 'subscription identifier on a PUBLISH from a client'); // [MQTT-3.3.4-6]
  }
  const topic = resolveTopic(conn, packet);
  validateTopicName(topic); // [MQTT-3.3.2-2]
  checkTopicLimits(topic, broker.config, ReasonCode.TopicNameInvalid);
  checkStoredSize(topic, packet);
  const session = conn.session!;
  // sharded: a message whose shard's answer a restart lost is on its way still; its resend goes
  // again under its id. DUP or not, as a received id is: MQTT.js resends without DUP, and a packet
  // id the session holds is not free for a new message [MQTT-2.2.1-3]
  const withId = packet.qos === 2 && conn.durable && !!broker.remote?.sessions; // sharded, persistent (Message.id)
  const routing = withId ? session.routingId(packet.packetId!) : undefined;
  const duplicate = packet.qos === 2 && routing === undefined && session.hasReceived(packet.packetId!);
  // only a v5 client is told the server's Receive Maximum; a 3.x client cannot keep to it
  if (conn.version === 5 && packet.qos === 2 && !duplicate && conn.incomingQoS2 >= broker.config.receiveMaximum) {
    throw new MqttError(ReasonCode.ReceiveMaximumExceeded, 'too many QoS 2 messages in flight'); // [MQTT-3.3.4-9]
  }

  const refusal = duplicate ? undefined : refuse(conn, packet, topic);
  // a refused resend ends the flow (PUBREC 0x80 or more): its id is free again, its routing record goes [MQTT-4.3.3]
  if (refusal !== undefined && routing !== undefined) session.released(packet.packetId!, true);
  if (refusal !== undefined || duplicate) return conn.inOrder(0, () => acknowledge(conn, packet, refusal));
  const message = toMessage(packet, topic, broker.clock.now(), conn.clientId);
  if (withId) {
    // the id is stored before the message leaves, so that its resend after a restart goes under it
    // again and the sessions that got it know the copy: the PUBREC waits on another object [MQTT-4.3.3]
    message.id = routing ?? messageId();
    if (routing === undefined) session.routing(packet.packetId!, message.id);
    else message.again = true;
  }
  if (packet.qos === 0) return broker.post(message, conn.client);
  let routed: number | Promise<number>;
  try {
    routed = broker.publish(message, conn.client, packet.qos > 0);
  } catch (err) {
    // a rule's outbox is full: v5 is told 0x97; 3.x cannot be, so its connection ends unacknowledged
    if (conn.version !== 5 || !isQuotaRefusal(err)) throw err;
    return conn.inOrder(0, () => acknowledge(conn, packet, ReasonCode.QuotaExceeded));
  }
  if (packet.qos === 2) {
    conn.incomingQoS2++;
    conn.changed();
  }
  // QoS 1/2 are acknowledged only once the owning shard accepted the message, in order
  conn.inOrder(accepted(routed, conn.version === 5), (matched) => {
    if (matched === refusedByRule) {
      if (message.id !== undefined) session.released(packet.packetId!, true); // nothing was routed under it
      return acknowledge(conn, packet, ReasonCode.QuotaExceeded);
    }
    // [MQTT-4.3.3-9]; a session that ended with its connection meanwhile is gone: its id must not
    // land in the next session of the client id (sharded: the shard answered after the close)
    if (packet.qos === 2 && (conn.state === 'active' || conn.durable)) session.received(packet.packetId!);
    acknowledge(conn, packet, matched ? undefined : ReasonCode.NoMatchingSubscribers);
  });
}

/** A message that may be stored (retained, or queued for a session) must fit one SQLite row. */
function checkStoredSize(topic: string, packet: PublishPacket): void {
  if (packet.payload.length < smallMessage && !packet.properties) return;
  if ((packet.qos > 0 || packet.retain) && storedRowBound(topic, packet.payload, packet.properties) > platformLimits.row.value) {
    throw new MqttError(ReasonCode.PacketTooLarge, `message larger than a stored row may be (${platformLimits.row.value} bytes)`);
  }
}

/** A QoS 2 message's id (Message.id): 53 random bits, unique among a publisher's last messages. */
function messageId(): number {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return (high >>> 11) * 2 ** 32 + low;
}

/** Below this, with no properties, a message fits a row whatever it holds. */
const smallMessage = 64 * 1024;

const isQuotaRefusal = (err: unknown) => err instanceof MqttError && err.reasonCode === ReasonCode.QuotaExceeded;
/** What `accepted` resolves with when the shard refused the message for a rule's full outbox. */
const refusedByRule = -1;

/**
 * A shard that failed to answer ends the connection unacknowledged: the client sends again. A
 * shard's refusal (a rule's full outbox) is told to a v5 client; a 3.x one is ended likewise.
 */
function accepted(routed: number | Promise<number>, v5: boolean): number | Promise<number> {
  if (typeof routed === 'number') return routed;
  return routed.catch((err: unknown) => {
    if (v5 && isQuotaRefusal(err)) return refusedByRule;
    throw new MqttError(ReasonCode.ImplementationSpecificError, `the topic shard did not accept the message: ${String(err)}`);
  });
}

/** v5 topic aliases set by the client [MQTT-3.3.2-7..12]. */
function resolveTopic(conn: Connection, packet: PublishPacket): string {
  const alias = packet.properties?.topicAlias;
  if (alias === undefined) return packet.topic;
  if (alias === 0 || alias > conn.broker.config.topicAliasMaximum) {
    throw new MqttError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} out of range`); // [MQTT-3.3.2-9, -10]
  }
  if (packet.topic) {
    if (conn.topicAliases.get(alias) !== packet.topic) {
      conn.topicAliases.set(alias, packet.topic);
      conn.changed();
    }
    return packet.topic;
  }
  const topic = conn.topicAliases.get(alias);
  if (topic === undefined) throw new MqttError(ReasonCode.ProtocolError, `topic alias ${alias} was never set`);
  return topic;
}

/** A reason code when the message is not accepted; the connection stays up. */
function refuse(conn: Connection, packet: PublishPacket, topic: string): number | undefined {
  if (packet.properties?.payloadFormatIndicator === 1 && !isValidUtf8(packet.payload)) {
    return ReasonCode.PayloadFormatInvalid; // [MQTT-3.3.2-4]
  }
  const { broker } = conn;
  const hooks = broker.hooks;
  const denied = hooks.has('authorizePublish') ? hooks.check('authorizePublish', conn.client, topic === packet.topic ? packet : { ...packet, topic }) : undefined;
  if (denied !== undefined || !packet.retain || !broker.local(topic)) return denied;
  const quota = broker.shard.retained.refusal(topic, packet.payload.length);
  if (quota !== undefined) broker.dropped(conn.clientId, 'retained-quota');
  return quota;
}

function acknowledge(conn: Connection, packet: PublishPacket, reasonCode: number | undefined): void {
  if (packet.qos === 0) return;
  const type = packet.qos === 1 ? 'puback' : 'pubrec';
  conn.send({ type, packetId: packet.packetId!, reasonCode: conn.version === 5 ? reasonCode : undefined });
}

/** What travels on: application properties only, expiry made absolute [MQTT-3.3.2-5]. */
export function toMessage(packet: PublishPacket, topic: string, now: number, publisher?: string): Message {
  const message: Message = { topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, properties: undefined, expiresAt: undefined, publisher };
  if (!packet.properties) return message;
  const { topicAlias: _a, subscriptionIdentifiers: _s, messageExpiryInterval, ...rest } = packet.properties;
  if (Object.keys(rest).length) message.properties = rest as Properties;
  if (messageExpiryInterval !== undefined) message.expiresAt = now + messageExpiryInterval * 1000;
  return message;
}
