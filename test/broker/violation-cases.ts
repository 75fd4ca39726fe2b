// Every protocol violation the spec names for a server to catch, with the reaction expected:
// shared by the broker's unit tests and the end-to-end selection.
import { encode, ReasonCode } from '../../src/protocol/index.ts';
import { mqtt4, mqtt5, pkt, props, str } from '../protocol/bytes.ts';
import { connectPacket } from './harness.ts';

const { MalformedPacket: M, ProtocolError: P, TopicNameInvalid, TopicAliasInvalid, PacketTooLarge } = ReasonCode;

/** name, v5 bytes and DISCONNECT code, 3.1.1 bytes (closed without a word). */
export type Active = readonly [name: string, v5: Uint8Array | undefined, code: number, v4?: Uint8Array];

export const activeCases: Active[] = [
  ['reserved fixed-header flags on SUBSCRIBE [MQTT-3.8.1-1]', pkt(0x80, 0, 1, 0, str('a'), 0), M, pkt(0x80, 0, 1, str('a'), 0)],
  ['reserved fixed-header flags on PUBREL [MQTT-3.6.1-1]', pkt(0x60, 0, 1), M, pkt(0x60, 0, 1)],
  ['reserved packet type 0 [MQTT-2.1.2]', pkt(0x00), M, pkt(0x00)],
  ['remaining length in five bytes [MQTT-1.5.5-1]', new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), M, new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])],
  ['PUBLISH QoS 3 [MQTT-3.3.1-4]', pkt(0x36, str('t'), 0, 1, 0), M, pkt(0x36, str('t'), 0, 1)],
  ['DUP on a QoS 0 PUBLISH [MQTT-3.3.1-2]', pkt(0x38, str('t'), 0), M, pkt(0x38, str('t'))],
  ['packet id 0 on a QoS 1 PUBLISH [MQTT-2.3.1-1]', pkt(0x32, str('t'), 0, 0, 0), M, pkt(0x32, str('t'), 0, 0)],
  ['wildcard in a PUBLISH topic [MQTT-3.3.2-2]', pkt(0x30, str('a/+'), 0), TopicNameInvalid, pkt(0x30, str('a/+'))],
  ['empty PUBLISH topic and no topic alias [MQTT-4.7.3-1]', pkt(0x30, str(''), 0), TopicNameInvalid, pkt(0x30, str(''))],
  ['topic not valid UTF-8 [MQTT-1.5.4-1]', pkt(0x30, str([0x61, 0xff]), 0), M, pkt(0x30, str([0x61, 0xff]))],
  ['U+0000 in a topic [MQTT-1.5.4-2]', pkt(0x30, str([0x61, 0x00]), 0), M, pkt(0x30, str([0x61, 0x00]))],
  ['UTF-16 surrogate in a topic [MQTT-1.5.4-1]', pkt(0x30, str([0xed, 0xa0, 0x80]), 0), M, pkt(0x30, str([0xed, 0xa0, 0x80]))],
  ['topic alias 0 [MQTT-3.3.2-8]', pkt(0x30, str('t'), props(0x23, 0, 0)), TopicAliasInvalid],
  ['topic alias above Topic Alias Maximum [MQTT-3.3.2-9]', pkt(0x30, str('t'), props(0x23, 0, 99)), TopicAliasInvalid],
  ['subscription identifier on a PUBLISH from the client [MQTT-3.3.4-6]', pkt(0x30, str('t'), props(0x0b, 1)), P],
  ['a property the packet may not carry (session expiry on PUBLISH) [MQTT-2.2.2]', pkt(0x30, str('t'), props(0x11, 0, 0, 0, 1)), M],
  ['a property that may appear once, twice [MQTT-2.2.2]', pkt(0x30, str('t'), props(0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2)), P],
  ['payload format indicator 2 [MQTT-3.3.2.3.2]', pkt(0x30, str('t'), props(0x01, 2)), P],
  ['SUBSCRIBE without a filter [MQTT-3.8.3-2]', pkt(0x82, 0, 1, 0), M, pkt(0x82, 0, 1)],
  ['SUBSCRIBE reserved option bits [MQTT-3.8.3-5]', pkt(0x82, 0, 1, 0, str('a'), 0xc0), M, pkt(0x82, 0, 1, str('a'), 0x04)],
  ['SUBSCRIBE Maximum QoS 3 [MQTT-3.8.3-4]', pkt(0x82, 0, 1, 0, str('a'), 0x03), P, pkt(0x82, 0, 1, str('a'), 0x03)],
  ['SUBSCRIBE Retain Handling 3 [MQTT-3.8.3.1]', pkt(0x82, 0, 1, 0, str('a'), 0x30), P],
  ['subscription identifier 0 on SUBSCRIBE [MQTT-3.8.2.1.2]', pkt(0x82, 0, 1, props(0x0b, 0), str('a'), 0), P],
  ['No Local on a shared subscription [MQTT-3.8.3-4]', pkt(0x82, 0, 1, 0, str('$share/g/a'), 0x04), P],
  ['UNSUBSCRIBE without a filter [MQTT-3.10.3-2]', pkt(0xa2, 0, 1, 0), M, pkt(0xa2, 0, 1)],
  ['PINGREQ with a body [MQTT-3.12]', pkt(0xc0, 0), M, pkt(0xc0, 0)],
  ['a second CONNECT [MQTT-3.1.0-2]', encode(connectPacket({ version: 5 }), 5), P, encode(connectPacket({ version: 4 }), 4)],
  ['AUTH when CONNECT named no authentication method [MQTT-4.12.0-?]', pkt(0xf0, 0x19, 0), P, pkt(0xf0, 0x19, 0)],
  ['CONNACK from a client [MQTT-3.2]', pkt(0x20, 0, 0, 0), P, pkt(0x20, 0, 0)],
  ['SUBACK from a client [MQTT-3.9]', pkt(0x90, 0, 1, 0, 0), P, pkt(0x90, 0, 1, 0)],
  ['UNSUBACK from a client [MQTT-3.11]', pkt(0xb0, 0, 1, 0, 0), P, pkt(0xb0, 0, 1)],
  ['PINGRESP from a client [MQTT-3.13]', pkt(0xd0), P, pkt(0xd0)],
  ['a packet over Maximum Packet Size [MQTT-3.2.2-?]', pkt(0x30, str('t'), 0, new Uint8Array(300)), PacketTooLarge, pkt(0x30, str('t'), new Uint8Array(300))],
];

/** name, v5 CONNECT bytes and CONNACK code, 3.1.1 bytes and CONNACK return code (undefined: closed without a word). */
export type Opening = readonly [name: string, v5: Uint8Array | undefined, code: number | undefined, v4?: Uint8Array, v4code?: number];

export const openingCases: Opening[] = [
  ['a first packet other than CONNECT [MQTT-3.1.0-1]', pkt(0xc0), undefined, pkt(0xc0)],
  ['CONNECT reserved flag set [MQTT-3.1.2-3]', pkt(0x10, mqtt5, 0x03, 0, 0, 0, str('c')), M, pkt(0x10, mqtt4, 0x03, 0, 0, str('c'))],
  ['will QoS without a will [MQTT-3.1.2-11]', pkt(0x10, mqtt5, 0x0a, 0, 0, 0, str('c')), M, pkt(0x10, mqtt4, 0x0a, 0, 0, str('c'))],
  ['will retain without a will [MQTT-3.1.2-13]', pkt(0x10, mqtt5, 0x22, 0, 0, 0, str('c')), M, pkt(0x10, mqtt4, 0x22, 0, 0, str('c'))],
  ['will QoS 3 [MQTT-3.1.2-14]', pkt(0x10, mqtt5, 0x1e, 0, 0, 0, str('c'), 0, str('t'), str('p')), M, pkt(0x10, mqtt4, 0x1e, 0, 0, str('c'), str('t'), str('p'))],
  ['password without a user name on 3.1.1 [MQTT-3.1.2-22]', undefined, undefined, pkt(0x10, mqtt4, 0x42, 0, 0, str('c'), str('p'))],
  ['client id not valid UTF-8 [MQTT-1.5.4-1]', pkt(0x10, mqtt5, 0x02, 0, 0, 0, str([0xc3])), M, pkt(0x10, mqtt4, 0x02, 0, 0, str([0xc3]))],
  ['will topic with a wildcard [MQTT-3.1.3-11]', pkt(0x10, mqtt5, 0x06, 0, 0, 0, str('c'), 0, str('a/#'), str('p')), TopicNameInvalid, pkt(0x10, mqtt4, 0x06, 0, 0, str('c'), str('a/#'), str('p'))],
  ['Receive Maximum 0 [MQTT-3.1.2.11.3]', pkt(0x10, mqtt5, 0x02, 0, 0, props(0x21, 0, 0), str('c')), P],
  ['a property CONNECT may not carry (topic alias) [MQTT-2.2.2]', pkt(0x10, mqtt5, 0x02, 0, 0, props(0x23, 0, 1), str('c')), M],
  ['unknown protocol name [MQTT-3.1.2-1]', pkt(0x10, str('MQTX'), 5, 0x02, 0, 0, 0, str('c')), 0x84, pkt(0x10, str('MQTX'), 4, 0x02, 0, 0, str('c')), 1],
  ['unknown protocol level [MQTT-3.1.2-2]', undefined, undefined, pkt(0x10, str('MQTT'), 7, 0x02, 0, 0, str('c')), 1],
  ['an authentication method that is not configured [MQTT-4.12.0-1]', pkt(0x10, mqtt5, 0x02, 0, 0, props(0x15, str('SCRAM-SHA-1')), str('c')), 0x8c],
];

/** The limits the cases assume (the packet-size and topic-alias rows). */
export const violationConfig = { maxPacketSize: 256, topicAliasMaximum: 4 };
