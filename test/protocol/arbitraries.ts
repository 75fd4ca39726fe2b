// fast-check arbitraries for valid packets of every type on every protocol version. Packets
// come out canonical (what decode returns): absent fields omitted, no reason code 0 where the
// short form drops it. Properties are generated from the property table itself.
import fc from 'fast-check';
import {
  isReasonCodeAllowed, propertyTable, type AckType, type Packet, type PacketType, type PropertyPacket, type PropertyRow,
  type Properties, type ProtocolVersion, type QoS,
} from '../../src/protocol/index.ts';

export const versions: readonly ProtocolVersion[] = [3, 4, 5];

/** MQTT strings: valid UTF-8 without U+0000, mostly ASCII, sometimes any code point. */
export const mqttString = fc
  .oneof({ arbitrary: fc.string({ maxLength: 12 }), weight: 3 }, { arbitrary: fc.string({ unit: 'binary', maxLength: 6 }), weight: 1 })
  .map((s) => s.replaceAll('\u0000', ''));
export const binary = fc.uint8Array({ maxLength: 24 });
export const packetId = fc.integer({ min: 1, max: 0xffff });
export const qos = fc.constantFrom<QoS>(0, 1, 2);

const typeMax = { u8: 0xff, u16: 0xffff, u32: 0xffff_ffff, varint: 268_435_455 } as const;

function valueArb(row: PropertyRow, packet: PropertyPacket): fc.Arbitrary<unknown> {
  switch (row.type) {
    case 'utf8': return mqttString;
    case 'binary': return binary;
    case 'pair': return fc.array(fc.tuple(mqttString, mqttString), { minLength: 1, maxLength: 3 });
    default: {
      const n = fc.integer({ min: row.min ?? 0, max: row.max ?? typeMax[row.type] });
      return row.type === 'varint' ? fc.array(n, { minLength: 1, maxLength: packet === 'publish' ? 3 : 1 }) : n;
    }
  }
}

/** Any set of the properties this packet may carry, or undefined. */
export function properties(packet: PropertyPacket): fc.Arbitrary<Properties | undefined> {
  const rows = propertyTable.filter((row) => row.packets.includes(packet));
  const record = fc.record(Object.fromEntries(rows.map((row) => [row.name, valueArb(row, packet)])), { requiredKeys: [] });
  return fc.option(record as fc.Arbitrary<Properties>, { nil: undefined, freq: 2 }).map((p) => (p && Object.keys(p).length ? { ...p } : undefined));
}

/** Drops keys whose value is undefined, as decode leaves them out. */
export function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const codes = (packet: PacketType): number[] => Array.from({ length: 256 }, (_, i) => i).filter((c) => isReasonCodeAllowed(c, packet));

/** A reason code that the short form may drop: absent when 0 and nothing follows it. */
function withReason<P extends { reasonCode?: number; properties?: Properties }>(p: P): P {
  return compact(p.reasonCode === 0 && !p.properties ? { ...p, reasonCode: undefined } : p);
}

const v5 = <T>(version: ProtocolVersion, arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  version === 5 ? arb : fc.constant(undefined);

function connect(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const will = fc.record({ topic: mqttString, payload: binary, qos, retain: fc.boolean(), properties: v5(version, properties('will')) });
  return fc
    .record({
      clean: fc.boolean(), keepalive: fc.integer({ min: 0, max: 0xffff }), clientId: mqttString,
      properties: v5(version, properties('connect')), will: fc.option(will.map(compact), { nil: undefined }),
      username: fc.option(mqttString, { nil: undefined }), password: fc.option(binary, { nil: undefined }),
    })
    .map((c) => compact({
      type: 'connect' as const, protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, ...c,
      password: version < 5 && c.username === undefined ? undefined : c.password, // [MQTT-3.1.2-22]
    }));
}

function publish(version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc
    .record({
      topic: mqttString, payload: fc.uint8Array({ maxLength: 64 }), qos, retain: fc.boolean(), dup: fc.boolean(), packetId,
      properties: v5(version, properties('publish')),
    })
    .map((p) => compact({ type: 'publish' as const, ...p, dup: p.qos > 0 && p.dup, packetId: p.qos > 0 ? p.packetId : undefined }));
}

function ack(version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc.constantFrom<AckType>('puback', 'pubrec', 'pubrel', 'pubcomp').chain((type) =>
    fc
      .record({
        packetId, reasonCode: v5(version, fc.constantFrom(...codes(type))), properties: v5(version, properties(type)),
      })
      .map((p) => withReason({ type, ...p })),
  );
}

function subscribe(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const subscription = version === 5
    ? fc.record({ topicFilter: mqttString, qos, noLocal: fc.boolean(), retainAsPublished: fc.boolean(), retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2) })
    : fc.record({ topicFilter: mqttString, qos });
  return fc
    .record({ packetId, subscriptions: fc.array(subscription.map((s) => ({ ...s })), { minLength: 1, maxLength: 4 }), properties: v5(version, properties('subscribe')) })
    .map((p) => compact({ type: 'subscribe' as const, ...p }));
}

function suback(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const code = version === 5 ? fc.constantFrom(...codes('suback')) : fc.constantFrom(0, 1, 2, 0x80);
  return fc
    .record({ packetId, reasonCodes: fc.array(code, { minLength: 1, maxLength: 4 }), properties: v5(version, properties('suback')) })
    .map((p) => compact({ type: 'suback' as const, ...p }));
}

function unsubscribe(version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc
    .record({ packetId, topicFilters: fc.array(mqttString, { minLength: 1, maxLength: 4 }), properties: v5(version, properties('unsubscribe')) })
    .map((p) => compact({ type: 'unsubscribe' as const, ...p }));
}

function unsuback(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const reasonCodes = fc.array(fc.constantFrom(...codes('unsuback')), { minLength: 1, maxLength: 4 });
  return fc
    .record({ packetId, reasonCodes: v5(version, reasonCodes), properties: v5(version, properties('unsuback')) })
    .map((p) => compact({ type: 'unsuback' as const, ...p }));
}

function reasonOnly(type: 'disconnect' | 'auth', version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc
    .record({ reasonCode: v5(version, fc.constantFrom(...codes(type))), properties: v5(version, properties(type)) })
    .map((p) => withReason({ type, ...p }));
}

function connack(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const reasonCode = version === 5 ? fc.constantFrom(...codes('connack')) : fc.integer({ min: 0, max: 5 });
  return fc
    .record({ sessionPresent: fc.boolean(), reasonCode, properties: v5(version, properties('connack')) })
    .map((p) => compact({ type: 'connack' as const, ...p }));
}

/** Any valid packet of the given type family on this version. */
export const packetArbs = {
  connect, connack, publish, ack, subscribe, suback, unsubscribe, unsuback,
  pingreq: () => fc.constant<Packet>({ type: 'pingreq' }),
  pingresp: () => fc.constant<Packet>({ type: 'pingresp' }),
  disconnect: (v: ProtocolVersion) => reasonOnly('disconnect', v),
  auth: (v: ProtocolVersion) => reasonOnly('auth', v),
} satisfies Record<string, (v: ProtocolVersion) => fc.Arbitrary<Packet>>;

/** Any valid packet on this version, CONNECT excepted (it carries its own version). */
export function packet(version: ProtocolVersion, options: { connect?: boolean } = {}): fc.Arbitrary<Packet> {
  const families = Object.entries(packetArbs)
    .filter(([name]) => (name !== 'auth' || version === 5) && (name !== 'connect' || options.connect !== false))
    .map(([, make]) => make(version));
  return fc.oneof(...families);
}
