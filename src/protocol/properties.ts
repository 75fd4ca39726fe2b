// MQTT 5 properties as one table [MQTT-2.2.2.2]: id, name, wire type, the packets that may carry
// it ('will' for the Will Properties of CONNECT) and, where the spec narrows the type's range,
// the allowed values. readProperties / writeProperties / propertiesSize interpret the table;
// adding a property is adding a row.
import { MqttError } from './error.ts';
import type { PacketType, Properties, UserProperty } from './packet.ts';
import type { ByteReader } from './reader.ts';
import { ReasonCode } from './reason-code.ts';
import { binarySize, maxVarint, stringSize, varintSize, type ByteWriter } from './writer.ts';

export type PropertyType = 'u8' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';
export type PropertyPacket = Exclude<PacketType, 'pingreq' | 'pingresp'> | 'will';

export interface PropertyRow {
  readonly id: number;
  readonly name: keyof Properties;
  readonly type: PropertyType;
  readonly packets: readonly PropertyPacket[];
  /** Narrower than the type's range; a value outside is a Protocol Error, unless `invalid` names another code. */
  readonly min?: number;
  readonly max?: number;
  /** The reason code a receiver answers a value out of range with. */
  readonly invalid?: number;
}

const message = ['publish', 'will'] as const;
const everyPacket = [
  'connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback',
  'unsubscribe', 'unsuback', 'disconnect', 'auth', 'will',
] as const;

export const propertyTable: readonly PropertyRow[] = [
  { id: 0x01, name: 'payloadFormatIndicator', type: 'u8', packets: message, max: 1 },
  { id: 0x02, name: 'messageExpiryInterval', type: 'u32', packets: message },
  { id: 0x03, name: 'contentType', type: 'utf8', packets: message },
  { id: 0x08, name: 'responseTopic', type: 'utf8', packets: message },
  { id: 0x09, name: 'correlationData', type: 'binary', packets: message },
  { id: 0x0b, name: 'subscriptionIdentifiers', type: 'varint', packets: ['publish', 'subscribe'], min: 1, max: maxVarint },
  { id: 0x11, name: 'sessionExpiryInterval', type: 'u32', packets: ['connect', 'connack', 'disconnect'] },
  { id: 0x12, name: 'assignedClientIdentifier', type: 'utf8', packets: ['connack'] },
  { id: 0x13, name: 'serverKeepAlive', type: 'u16', packets: ['connack'] },
  { id: 0x15, name: 'authenticationMethod', type: 'utf8', packets: ['connect', 'connack', 'auth'] },
  { id: 0x16, name: 'authenticationData', type: 'binary', packets: ['connect', 'connack', 'auth'] },
  { id: 0x17, name: 'requestProblemInformation', type: 'u8', packets: ['connect'], max: 1 },
  { id: 0x18, name: 'willDelayInterval', type: 'u32', packets: ['will'] },
  { id: 0x19, name: 'requestResponseInformation', type: 'u8', packets: ['connect'], max: 1 },
  { id: 0x1a, name: 'responseInformation', type: 'utf8', packets: ['connack'] },
  { id: 0x1c, name: 'serverReference', type: 'utf8', packets: ['connack', 'disconnect'] },
  {
    id: 0x1f, name: 'reasonString', type: 'utf8',
    packets: ['connack', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'suback', 'unsuback', 'disconnect', 'auth'],
  },
  { id: 0x21, name: 'receiveMaximum', type: 'u16', packets: ['connect', 'connack'], min: 1 },
  { id: 0x22, name: 'topicAliasMaximum', type: 'u16', packets: ['connect', 'connack'] },
  { id: 0x23, name: 'topicAlias', type: 'u16', packets: ['publish'], min: 1, invalid: ReasonCode.TopicAliasInvalid }, // [MQTT-3.3.2-8]
  { id: 0x24, name: 'maximumQoS', type: 'u8', packets: ['connack'], max: 1 },
  { id: 0x25, name: 'retainAvailable', type: 'u8', packets: ['connack'], max: 1 },
  { id: 0x26, name: 'userProperties', type: 'pair', packets: everyPacket },
  { id: 0x27, name: 'maximumPacketSize', type: 'u32', packets: ['connect', 'connack'], min: 1 },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', type: 'u8', packets: ['connack'], max: 1 },
  { id: 0x29, name: 'subscriptionIdentifiersAvailable', type: 'u8', packets: ['connack'], max: 1 },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', type: 'u8', packets: ['connack'], max: 1 },
];

const byId: (PropertyRow | undefined)[] = [];
const byName = new Map<string, PropertyRow>();
for (const row of propertyTable) {
  byId[row.id] = row;
  byName.set(row.name, row);
}

const typeMax = { u8: 0xff, u16: 0xffff, u32: 0xffff_ffff, varint: maxVarint } as const;

type Bag = Record<string, unknown>;

/** Reads a property block; undefined when it is empty. */
export function readProperties(r: ByteReader, packet: PropertyPacket): Properties | undefined {
  const length = r.varint();
  const end = r.pos + length;
  if (end > r.end) throw new MqttError(ReasonCode.MalformedPacket, 'property length exceeds the packet');
  if (length === 0) return undefined;
  const outer = r.end;
  const props: Properties = {};
  r.end = end;
  while (r.pos < end) readProperty(r, packet, props);
  r.end = outer;
  return props;
}

function readProperty(r: ByteReader, packet: PropertyPacket, props: Properties): void {
  const id = r.u8();
  const row = byId[id];
  if (!row) throw new MqttError(ReasonCode.MalformedPacket, `unknown property 0x${id.toString(16)}`);
  if (!row.packets.includes(packet)) throw new MqttError(ReasonCode.MalformedPacket, `${row.name} is not allowed in ${packet}`);
  const value = readValue(r, row.type);
  if (typeof value === 'number' && !inRange(row, value)) {
    throw new MqttError(row.invalid ?? ReasonCode.ProtocolError, `${row.name} ${value} is out of range`);
  }
  if (row.name === 'userProperties') {
    (props.userProperties ??= []).push(value as UserProperty);
  } else if (row.name === 'subscriptionIdentifiers' && (packet === 'publish' || !props.subscriptionIdentifiers)) {
    (props.subscriptionIdentifiers ??= []).push(value as number); // several on PUBLISH [MQTT-3.3.4-4]
  } else if ((props as Bag)[row.name] !== undefined) {
    throw new MqttError(ReasonCode.ProtocolError, `${row.name} appears more than once`);
  } else {
    (props as Bag)[row.name] = value;
  }
}

function readValue(r: ByteReader, type: PropertyType): number | string | Uint8Array | UserProperty {
  switch (type) {
    case 'u8': return r.u8();
    case 'u16': return r.u16();
    case 'u32': return r.u32();
    case 'varint': return r.varint();
    case 'utf8': return r.utf8();
    case 'binary': return r.binary();
    case 'pair': return r.pair();
  }
}

function inRange(row: PropertyRow, value: number): boolean {
  return value >= (row.min ?? 0) && value <= (row.max ?? typeMax[row.type as keyof typeof typeMax]);
}

/** Bytes of the property list, without its length prefix. Throws on what cannot be encoded. */
export function propertiesSize(props: Properties | undefined, packet: PropertyPacket): number {
  let size = 0;
  for (const name in props) {
    const value = (props as Bag)[name];
    if (value === undefined) continue;
    const row = byName.get(name);
    if (!row) throw new MqttError(ReasonCode.ProtocolError, `unknown property ${name}`);
    if (!row.packets.includes(packet)) throw new MqttError(ReasonCode.ProtocolError, `${name} is not allowed in ${packet}`);
    if (row.type === 'pair' || row.type === 'varint') {
      const values = value as readonly (number | UserProperty)[];
      if (row.type === 'varint' && packet !== 'publish' && values.length > 1) {
        throw new MqttError(ReasonCode.ProtocolError, `${name} holds one value on ${packet}`);
      }
      for (const v of values) size += 1 + valueSize(row, v);
    } else size += 1 + valueSize(row, value);
  }
  return size;
}

function valueSize(row: PropertyRow, value: unknown): number {
  switch (row.type) {
    case 'utf8': return stringSize(value as string);
    case 'binary': return binarySize(value as Uint8Array);
    case 'pair': return stringSize((value as UserProperty)[0]) + stringSize((value as UserProperty)[1]);
    default:
      if (!Number.isInteger(value) || !inRange(row, value as number)) {
        throw new MqttError(ReasonCode.ProtocolError, `${row.name} ${String(value)} is out of range`);
      }
      return row.type === 'varint' ? varintSize(value as number) : row.type === 'u8' ? 1 : row.type === 'u16' ? 2 : 4;
  }
}

/** A property block: the length prefix and the list. */
export function blockSize(size: number): number {
  return varintSize(size) + size;
}

/** Writes the length prefix and the properties; size is propertiesSize's answer. */
export function writeProperties(w: ByteWriter, props: Properties | undefined, size: number): void {
  w.varint(size);
  if (size === 0) return;
  for (const name in props) {
    const value = (props as Bag)[name];
    if (value === undefined) continue;
    const row = byName.get(name) as PropertyRow;
    if (row.type === 'pair' || row.type === 'varint') {
      for (const v of value as readonly (number | UserProperty)[]) writeValue(w, row, v);
    } else writeValue(w, row, value);
  }
}

function writeValue(w: ByteWriter, row: PropertyRow, value: unknown): void {
  w.u8(row.id);
  switch (row.type) {
    case 'u8': return w.u8(value as number);
    case 'u16': return w.u16(value as number);
    case 'u32': return w.u32(value as number);
    case 'varint': return w.varint(value as number);
    case 'utf8': return w.utf8(value as string);
    case 'binary': return w.binary(value as Uint8Array);
    case 'pair': return w.pair(value as UserProperty);
  }
}
