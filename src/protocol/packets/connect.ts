// CONNECT [MQTT-3.1]. The protocol level is reported to the decoder as soon as it is read,
// so a refusal can be sent in the format the client asked for even if the rest is malformed.
import { MqttError } from '../error.ts';
import type { ConnectPacket, ProtocolVersion, QoS, Will } from '../packet.ts';
import { blockSize, propertiesSize, readProperties, writeProperties } from '../properties.ts';
import type { ByteReader } from '../reader.ts';
import { ReasonCode } from '../reason-code.ts';
import { binarySize, stringSize, type ByteWriter } from '../writer.ts';

/** Where decodeConnect reports the protocol level it read (the Decoder). */
export interface VersionState {
  protocolVersion: ProtocolVersion;
}

const Flag = { username: 0x80, password: 0x40, willRetain: 0x20, will: 0x04, clean: 0x02, reserved: 0x01 } as const;

export function decodeConnect(r: ByteReader, state: VersionState): ConnectPacket {
  const protocolName = r.utf8();
  const level = r.u8();
  if (level !== 3 && level !== 4 && level !== 5) {
    throw new MqttError(ReasonCode.UnsupportedProtocolVersion, `protocol level ${level}`); // [MQTT-3.1.2-2]
  }
  state.protocolVersion = level;
  if (protocolName !== (level === 3 ? 'MQIsdp' : 'MQTT')) {
    throw new MqttError(ReasonCode.UnsupportedProtocolVersion, `protocol name ${protocolName} with level ${level}`); // [MQTT-3.1.2-1]
  }
  const flags = r.u8();
  checkFlags(flags, level);
  const keepalive = r.u16();
  const properties = level === 5 ? readProperties(r, 'connect') : undefined;
  const packet: ConnectPacket = {
    type: 'connect', protocolName, protocolVersion: level, clean: (flags & Flag.clean) !== 0, keepalive, clientId: r.utf8(),
  };
  if (properties) packet.properties = properties;
  if (flags & Flag.will) packet.will = decodeWill(r, flags, level);
  if (flags & Flag.username) packet.username = r.utf8();
  if (flags & Flag.password) packet.password = r.binary();
  r.done('CONNECT');
  return packet;
}

function checkFlags(flags: number, level: ProtocolVersion): void {
  const willQoS = (flags >> 3) & 3;
  if (flags & Flag.reserved) throw new MqttError(ReasonCode.MalformedPacket, 'CONNECT reserved flag set'); // [MQTT-3.1.2-3]
  if (!(flags & Flag.will) && (willQoS !== 0 || flags & Flag.willRetain)) {
    throw new MqttError(ReasonCode.MalformedPacket, 'will QoS or retain without a will'); // [MQTT-3.1.2-11] [MQTT-3.1.2-13]
  }
  if (willQoS === 3) throw new MqttError(ReasonCode.MalformedPacket, 'will QoS 3'); // [MQTT-3.1.2-14]
  if (level < 5 && flags & Flag.password && !(flags & Flag.username)) {
    throw new MqttError(ReasonCode.MalformedPacket, 'password without user name'); // [MQTT-3.1.2-22]
  }
}

function decodeWill(r: ByteReader, flags: number, level: ProtocolVersion): Will {
  const properties = level === 5 ? readProperties(r, 'will') : undefined;
  const topic = r.utf8();
  const will: Will = { topic, payload: r.binary(), qos: ((flags >> 3) & 3) as QoS, retain: (flags & Flag.willRetain) !== 0 };
  if (properties) will.properties = properties;
  return will;
}

/** Remaining length. The packet's own protocolVersion decides the format. */
export function sizeConnect(p: ConnectPacket): number {
  const v = p.protocolVersion;
  if (v !== 3 && v !== 4 && v !== 5) throw new MqttError(ReasonCode.UnsupportedProtocolVersion, `protocol level ${String(v)}`);
  if (v < 5 && p.password !== undefined && p.username === undefined) {
    throw new MqttError(ReasonCode.ProtocolError, 'password without user name'); // [MQTT-3.1.2-22]
  }
  let size = stringSize(p.protocolName) + 4 + stringSize(p.clientId);
  if (v === 5) size += blockSize(propertiesSize(p.properties, 'connect'));
  if (p.will) {
    size += stringSize(p.will.topic) + binarySize(p.will.payload);
    if (v === 5) size += blockSize(propertiesSize(p.will.properties, 'will'));
  }
  if (p.username !== undefined) size += stringSize(p.username);
  if (p.password !== undefined) size += binarySize(p.password);
  return size;
}

export function encodeConnect(w: ByteWriter, p: ConnectPacket): void {
  const v = p.protocolVersion;
  const will = p.will;
  let flags = p.clean ? Flag.clean : 0;
  if (will) flags |= Flag.will | (will.qos << 3) | (will.retain ? Flag.willRetain : 0);
  if (p.username !== undefined) flags |= Flag.username;
  if (p.password !== undefined) flags |= Flag.password;
  w.utf8(p.protocolName);
  w.u8(v);
  w.u8(flags);
  w.u16(p.keepalive);
  if (v === 5) writeProperties(w, p.properties, propertiesSize(p.properties, 'connect'));
  w.utf8(p.clientId);
  if (will) {
    if (v === 5) writeProperties(w, will.properties, propertiesSize(will.properties, 'will'));
    w.utf8(will.topic);
    w.binary(will.payload);
  }
  if (p.username !== undefined) w.utf8(p.username);
  if (p.password !== undefined) w.binary(p.password);
}
