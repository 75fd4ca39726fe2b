// The agent's one door to the shared codec in ../src/protocol (the broker's own), plus the
// tiny packet constructors the agent needs.
export {
  Decoder, encode, MqttError, ReasonCode, ConnackReturnCode, reasonCodeText, validateTopicName, validateTopicFilter,
} from '../../src/protocol/index.ts';
export type {
  Packet, ConnectPacket, ConnackPacket, PublishPacket, AckPacket, SubscribePacket, SubackPacket,
  UnsubscribePacket, UnsubackPacket, DisconnectPacket, Subscription, ProtocolVersion, QoS, Properties, Will,
} from '../../src/protocol/index.ts';
import type { AckPacket, AckType, ConnackPacket } from '../../src/protocol/index.ts';

export const ack = (type: AckType, packetId: number, reasonCode?: number): AckPacket =>
  reasonCode ? { type, packetId, reasonCode } : { type, packetId };

export const connack = (reasonCode: number, sessionPresent = false): ConnackPacket => ({ type: 'connack', sessionPresent, reasonCode });
