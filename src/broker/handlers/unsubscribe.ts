import { MqttError, ReasonCode, validateTopicFilter, type UnsubscribePacket } from '../../protocol/index.ts';
import type { Connection } from '../connection.ts';
import { checkFilterCount } from './subscribe.ts';

/** Removes each filter; UNSUBACK says which existed on v5 [MQTT-3.10.4-4, MQTT-3.11.3-1]. */
/** UNSUBACK once no shard routes by the filters any more [MQTT-3.10.4-2]. */
export async function handleUnsubscribe(conn: Connection, packet: UnsubscribePacket): Promise<void> {
  checkFilterCount(conn, packet.topicFilters.length);
  const codes = packet.topicFilters.map(validity);
  const valid = packet.topicFilters.filter((_, i) => codes[i] === undefined);
  const existed = await conn.broker.unsubscribe(conn.clientId, valid);
  let k = 0;
  const reasonCodes = codes.map((c) => c ?? (existed[k++] ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted));
  conn.send({ type: 'unsuback', packetId: packet.packetId, reasonCodes: conn.version === 5 ? reasonCodes : undefined });
}

/** A malformed filter cannot name a subscription: v5 says so with 0x8F. */
function validity(filter: string): number | undefined {
  try {
    validateTopicFilter(filter);
    return undefined;
  } catch (err) {
    if (err instanceof MqttError) return err.reasonCode;
    throw err;
  }
}
