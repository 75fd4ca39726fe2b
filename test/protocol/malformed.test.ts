// Every wire-form rule the decoder enforces, each with the reason code it must produce:
// 0x81 Malformed Packet, 0x82 Protocol Error, 0x84 Unsupported Protocol Version.
import { describe, expect, it } from 'vitest';
import { ReasonCode, type ProtocolVersion } from '../../src/protocol/index.ts';
import { mqtt3, mqtt4, mqtt5, pkt, props, str } from './bytes.ts';
import { decodeError } from './helpers.ts';

const { MalformedPacket: M, ProtocolError: P, UnsupportedProtocolVersion: U } = ReasonCode;

type Case = readonly [name: string, version: ProtocolVersion, bytes: Uint8Array, code: number];

function table(title: string, cases: readonly Case[]): void {
  describe(title, () => {
    for (const [name, version, bytes, code] of cases) {
      it(`${name} (v${version}) → 0x${code.toString(16)}`, () => {
        expect(decodeError(bytes, version).toString(16)).toBe(code.toString(16));
      });
    }
  });
}

const requiredFlags: Record<number, number> = { 1: 0, 2: 0, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 9: 0, 10: 2, 11: 0, 12: 0, 13: 0, 14: 0, 15: 0 };
const flagCases: Case[] = Object.entries(requiredFlags).flatMap(([type, required]) =>
  Array.from({ length: 16 }, (_, flags) => flags)
    .filter((flags) => flags !== required)
    .map((flags): Case => [`type ${type} with flags 0b${flags.toString(2).padStart(4, '0')} [MQTT-2.2.2-2]`, 5, new Uint8Array([(Number(type) << 4) | flags, 0]), M]),
);

table('fixed header', [
  ['reserved packet type 0 [MQTT-2.1.2]', 4, new Uint8Array([0x00, 0x00]), M],
  ['AUTH before MQTT 5 [MQTT-2.1.2]', 4, new Uint8Array([0xf0, 0x00]), M],
  ['AUTH on 3.1 [MQTT-2.1.2]', 3, new Uint8Array([0xf0, 0x00]), M],
  ['remaining length in five bytes [MQTT-1.5.5-1]', 4, new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), M],
  ...flagCases,
]);

table('PUBLISH', [
  ['QoS 3 [MQTT-3.3.1-4]', 4, pkt(0x36, str('t'), 0, 1), M],
  ['DUP with QoS 0 [MQTT-3.3.1-2]', 4, pkt(0x38, str('t')), M],
  ['packet id 0 on QoS 1 [MQTT-2.3.1-1]', 4, pkt(0x32, str('t'), 0, 0), M],
  ['packet id 0 on QoS 2 [MQTT-2.3.1-1]', 5, pkt(0x34, str('t'), 0, 0, 0), M],
  ['topic longer than the body', 4, pkt(0x30, 0, 5, 0x61), M],
  ['no packet id on QoS 1', 4, pkt(0x32, str('t'), 0), M],
  ['v5 without a property length', 5, pkt(0x30, str('t')), M],
  ['topic with U+0000 [MQTT-1.5.4-2]', 4, pkt(0x30, str([0x61, 0x00])), M],
  ['topic with an invalid byte [MQTT-1.5.4-1]', 4, pkt(0x30, str([0x61, 0xff])), M],
  ['topic with an overlong "/" [MQTT-1.5.4-1]', 4, pkt(0x30, str([0xc0, 0xaf])), M],
  ['topic with a UTF-16 surrogate [MQTT-1.5.4-1]', 4, pkt(0x30, str([0xed, 0xa0, 0x80])), M],
  ['topic above U+10FFFF [MQTT-1.5.4-1]', 4, pkt(0x30, str([0xf4, 0x90, 0x80, 0x80])), M],
  ['topic with a truncated sequence [MQTT-1.5.4-1]', 4, pkt(0x30, str([0x61, 0xe2, 0x82])), M],
  ['topic with a lone continuation byte [MQTT-1.5.4-1]', 4, pkt(0x30, str([0x80])), M],
]);

table('PUBACK, PUBREC, PUBREL, PUBCOMP', [
  ['PUBACK packet id 0 [MQTT-2.3.1-1]', 4, pkt(0x40, 0, 0), M],
  ['PUBREC packet id 0 [MQTT-2.3.1-1]', 5, pkt(0x50, 0, 0), M],
  ['PUBREL packet id 0 [MQTT-2.3.1-1]', 4, pkt(0x62, 0, 0), M],
  ['PUBCOMP packet id 0 [MQTT-2.3.1-1]', 3, pkt(0x70, 0, 0), M],
  ['PUBACK shorter than a packet id', 4, pkt(0x40, 1), M],
  ['3.1.1 PUBACK longer than a packet id', 4, pkt(0x40, 0, 1, 0), M],
  ['3.1 PUBREL longer than a packet id', 3, pkt(0x62, 0, 1, 0), M],
  ['v5 PUBACK whose properties overrun the packet', 5, pkt(0x40, 0, 1, 0, 5, 0x1f), M],
  ['v5 PUBACK with bytes after its properties', 5, pkt(0x40, 0, 1, 0, 0, 0), M],
]);

table('CONNECT', [
  ['unknown protocol level 6 [MQTT-3.1.2-2]', 4, pkt(0x10, str('MQTT'), 6, 2, 0, 0, str('c')), U],
  ['bridge-mode level 0x84 [MQTT-3.1.2-2]', 4, pkt(0x10, str('MQTT'), 0x84, 2, 0, 0, str('c')), U],
  ["'MQTT' with level 3 [MQTT-3.1.2-1]", 4, pkt(0x10, str('MQTT'), 3, 2, 0, 0, str('c')), U],
  ["'MQIsdp' with level 4 [MQTT-3.1.2-1]", 4, pkt(0x10, str('MQIsdp'), 4, 2, 0, 0, str('c')), U],
  ['unknown protocol name [MQTT-3.1.2-1]', 4, pkt(0x10, str('HTTP'), 4, 2, 0, 0, str('c')), U],
  ['reserved flag set [MQTT-3.1.2-3]', 4, pkt(0x10, mqtt4, 0x03, 0, 0, str('c')), M],
  ['will QoS without will flag [MQTT-3.1.2-11]', 4, pkt(0x10, mqtt4, 0x0a, 0, 0, str('c')), M],
  ['will retain without will flag [MQTT-3.1.2-13]', 5, pkt(0x10, mqtt5, 0x22, 0, 0, 0, str('c')), M],
  ['will QoS 3 [MQTT-3.1.2-14]', 4, pkt(0x10, mqtt4, 0x1e, 0, 0, str('c'), str('t'), str('p')), M],
  ['3.1.1 password without user name [MQTT-3.1.2-22]', 4, pkt(0x10, mqtt4, 0x42, 0, 0, str('c'), str('p')), M],
  ['3.1 password without user name [MQTT-3.1.2-22]', 3, pkt(0x10, mqtt3, 0x42, 0, 0, str('c'), str('p')), M],
  ['client id with U+0000 [MQTT-1.5.4-2]', 4, pkt(0x10, mqtt4, 0x02, 0, 0, str([0x63, 0x00])), M],
  ['user name not valid UTF-8 [MQTT-1.5.4-1]', 4, pkt(0x10, mqtt4, 0x82, 0, 0, str('c'), str([0xfe])), M],
  ['missing the will payload', 4, pkt(0x10, mqtt4, 0x06, 0, 0, str('c'), str('t')), M],
  ['missing the user name', 4, pkt(0x10, mqtt4, 0x82, 0, 0, str('c')), M],
  ['bytes after the last field', 4, pkt(0x10, mqtt4, 0x02, 0, 0, str('c'), 0), M],
  ['truncated before the keepalive', 5, pkt(0x10, mqtt5, 0x02), M],
  ['truncated protocol name', 4, pkt(0x10, 0, 4, 0x4d, 0x51), M],
]);

table('CONNACK', [
  ['reserved flags set [MQTT-3.2.2-1]', 4, pkt(0x20, 0x02, 0), M],
  ['v5 reserved flags set [MQTT-3.2.2-1]', 5, pkt(0x20, 0x80, 0, 0), M],
  ['shorter than two bytes', 4, pkt(0x20, 0), M],
  ['3.1.1 longer than two bytes', 4, pkt(0x20, 0, 0, 0), M],
]);

table('SUBSCRIBE', [
  ['no subscriptions [MQTT-3.8.3-3]', 4, pkt(0x82, 0, 1), M],
  ['v5 no subscriptions [MQTT-3.8.3-3]', 5, pkt(0x82, 0, 1, 0), M],
  ['packet id 0 [MQTT-2.3.1-1]', 4, pkt(0x82, 0, 0, str('a'), 0), M],
  ['filter without options byte', 4, pkt(0x82, 0, 1, str('a')), M],
  ['3.1.1 options upper bits set [MQTT-3.8.3-4]', 4, pkt(0x82, 0, 1, str('a'), 0x04), M],
  ['3.1 options upper bits set [MQTT-3.8.3-4]', 3, pkt(0x82, 0, 1, str('a'), 0x80), M],
  ['3.1.1 QoS 3 [MQTT-3.8.3-4]', 4, pkt(0x82, 0, 1, str('a'), 0x03), M],
  ['v5 reserved option bits set [MQTT-3.8.3-5]', 5, pkt(0x82, 0, 1, 0, str('a'), 0x40), M],
  ['v5 Maximum QoS 3 [MQTT-3.8.3.1]', 5, pkt(0x82, 0, 1, 0, str('a'), 0x03), P],
  ['v5 retain handling 3 [MQTT-3.8.3.1]', 5, pkt(0x82, 0, 1, 0, str('a'), 0x30), P],
  ['filter with U+0000 [MQTT-1.5.4-2]', 4, pkt(0x82, 0, 1, str([0x61, 0x00]), 0), M],
]);

table('SUBACK, UNSUBSCRIBE, UNSUBACK', [
  ['SUBACK without return codes [MQTT-3.9.3-1]', 4, pkt(0x90, 0, 1), M],
  ['SUBACK packet id 0 [MQTT-2.3.1-1]', 5, pkt(0x90, 0, 0, 0, 0), M],
  ['UNSUBSCRIBE without filters [MQTT-3.10.3-2]', 4, pkt(0xa2, 0, 1), M],
  ['v5 UNSUBSCRIBE without filters [MQTT-3.10.3-2]', 5, pkt(0xa2, 0, 1, 0), M],
  ['UNSUBSCRIBE packet id 0 [MQTT-2.3.1-1]', 4, pkt(0xa2, 0, 0, str('a')), M],
  ['UNSUBSCRIBE filter cut short', 4, pkt(0xa2, 0, 1, 0, 3, 0x61), M],
  ['3.1.1 UNSUBACK longer than a packet id', 4, pkt(0xb0, 0, 1, 0), M],
  ['UNSUBACK packet id 0 [MQTT-2.3.1-1]', 4, pkt(0xb0, 0, 0), M],
  ['v5 UNSUBACK without reason codes [MQTT-3.11.3-1]', 5, pkt(0xb0, 0, 1, 0), M],
]);

table('PINGREQ, PINGRESP, DISCONNECT, AUTH', [
  ['3.1.1 PINGREQ with a body', 4, pkt(0xc0, 0), M],
  ['3.1 PINGRESP with a body', 3, pkt(0xd0, 0), M],
  ['v5 PINGREQ with a body', 5, pkt(0xc0, 0), M],
  ['3.1.1 DISCONNECT with a body', 4, pkt(0xe0, 0), M],
  ['3.1 DISCONNECT with a body', 3, pkt(0xe0, 0), M],
  ['v5 DISCONNECT with bytes after its properties', 5, pkt(0xe0, 0, 0, 0), M],
  ['v5 DISCONNECT properties overrun', 5, pkt(0xe0, 0, 3, 0x11, 0), M],
  ['v5 AUTH properties overrun', 5, pkt(0xf0, 0x18, 9), M],
]);

table('v5 properties', [
  ['unknown property id 0x04', 5, pkt(0x30, str('t'), props(0x04, 0)), M],
  ['unknown property id 0x00', 5, pkt(0x30, str('t'), props(0x00)), M],
  ['topic alias on CONNECT', 5, pkt(0x10, mqtt5, 0x02, 0, 0, props(0x23, 0, 1), str('c')), M],
  ['will delay interval in CONNECT properties', 5, pkt(0x10, mqtt5, 0x02, 0, 0, props(0x18, 0, 0, 0, 1), str('c')), M],
  ['session expiry interval in will properties', 5, pkt(0x10, mqtt5, 0x06, 0, 0, 0, str('c'), props(0x11, 0, 0, 0, 1), str('t'), str('p')), M],
  ['session expiry interval on PUBLISH', 5, pkt(0x30, str('t'), props(0x11, 0, 0, 0, 1)), M],
  ['reason string on SUBSCRIBE', 5, pkt(0x82, 0, 1, props(0x1f, str('x')), str('a'), 0), M],
  ['subscription identifier on UNSUBSCRIBE', 5, pkt(0xa2, 0, 1, props(0x0b, 1), str('a')), M],
  ['maximum QoS on CONNECT', 5, pkt(0x10, mqtt5, 0x02, 0, 0, props(0x24, 1), str('c')), M],
  ['message expiry interval twice', 5, pkt(0x30, str('t'), props(0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2)), P],
  ['topic alias twice', 5, pkt(0x30, str('t'), props(0x23, 0, 1, 0x23, 0, 2)), P],
  ['reason string twice on PUBACK', 5, pkt(0x40, 0, 1, 0, props(0x1f, str('a'), 0x1f, str('b'))), P],
  ['subscription identifier twice on SUBSCRIBE', 5, pkt(0x82, 0, 1, props(0x0b, 1, 0x0b, 2), str('a'), 0), P],
  ['session expiry interval twice on CONNACK', 5, pkt(0x20, 0, 0, props(0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1)), P],
  ['payload format indicator 2', 5, pkt(0x30, str('t'), props(0x01, 2)), P],
  ['request problem information 2', 5, pkt(0x10, mqtt5, 0x02, 0, 0, props(0x17, 2), str('c')), P],
  ['request response information 2', 5, pkt(0x10, mqtt5, 0x02, 0, 0, props(0x19, 2), str('c')), P],
  ['maximum QoS 2', 5, pkt(0x20, 0, 0, props(0x24, 2)), P],
  ['retain available 2', 5, pkt(0x20, 0, 0, props(0x25, 2)), P],
  ['wildcard subscription available 2', 5, pkt(0x20, 0, 0, props(0x28, 2)), P],
  ['subscription identifiers available 2', 5, pkt(0x20, 0, 0, props(0x29, 2)), P],
  ['shared subscription available 2', 5, pkt(0x20, 0, 0, props(0x2a, 2)), P],
  ['receive maximum 0', 5, pkt(0x10, mqtt5, 0x02, 0, 0, props(0x21, 0, 0), str('c')), P],
  ['maximum packet size 0', 5, pkt(0x20, 0, 0, props(0x27, 0, 0, 0, 0)), P],
  ['subscription identifier 0 on SUBSCRIBE', 5, pkt(0x82, 0, 1, props(0x0b, 0), str('a'), 0), P],
  ['subscription identifier 0 on PUBLISH', 5, pkt(0x30, str('t'), props(0x0b, 0)), P],
  ['topic alias 0 [MQTT-3.3.2-8]', 5, pkt(0x30, str('t'), props(0x23, 0, 0)), ReasonCode.TopicAliasInvalid],
  ['subscription identifier in five bytes', 5, pkt(0x30, str('t'), props(0x0b, 0xff, 0xff, 0xff, 0xff, 0x01)), M],
  ['property length beyond the packet', 5, pkt(0x30, str('t'), 9, 0x01, 1), M],
  ['value overrunning the property block', 5, pkt(0x30, str('t'), 2, 0x02, 0, 0, 0, 1), M],
  ['string value cut short', 5, pkt(0x30, str('t'), props(0x03, 0, 5, 0x61)), M],
  ['user property without a value', 5, pkt(0x30, str('t'), props(0x26, str('k'))), M],
  ['content type not valid UTF-8 [MQTT-1.5.4-1]', 5, pkt(0x30, str('t'), props(0x03, str([0xc3]))), M],
  ['user property name with U+0000 [MQTT-1.5.4-2]', 5, pkt(0x30, str('t'), props(0x26, str([0]), str('v'))), M],
  ['reason string with U+0000 [MQTT-1.5.4-2]', 5, pkt(0xe0, 0x80, props(0x1f, str([0x61, 0]))), M],
]);
