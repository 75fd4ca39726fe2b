// encode(): short forms on v5, v5-only fields left out on 3.x, and refusals of what cannot be
// put on the wire. Byte-exact encodings of every type are in the fixtures.
import { describe, expect, it } from 'vitest';
import { encode, packetSize, PublishTemplate, ReasonCode, type Packet, type ProtocolVersion } from '../../src/protocol/index.ts';
import { fixtures } from '../fixtures/packets.ts';
import { errorCode, decodeOne, hex } from './helpers.ts';

const text = (s: string) => new TextEncoder().encode(s);

function expectBytes(packet: Packet, version: ProtocolVersion, bytes: number[]): void {
  expect(hex(encode(packet, version))).toBe(hex(new Uint8Array(bytes)));
}

describe('encode: v5 short forms', () => {
  for (const type of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
    it(`${type} with reason 0 and no properties is two bytes of packet id [MQTT-3.4.2.1]`, () => {
      const first = type === 'pubrel' ? 0x62 : { puback: 0x40, pubrec: 0x50, pubcomp: 0x70 }[type];
      expectBytes({ type, packetId: 1, reasonCode: 0 }, 5, [first, 2, 0, 1]);
      expectBytes({ type, packetId: 1, reasonCode: 0, properties: {} }, 5, [first, 2, 0, 1]);
    });
  }

  it('an ack with a reason code and no properties omits the property length', () => {
    expectBytes({ type: 'puback', packetId: 1, reasonCode: 0x10 }, 5, [0x40, 3, 0, 1, 0x10]);
  });

  it('DISCONNECT and AUTH with reason 0 and no properties have remaining length 0 [MQTT-3.14.2.1]', () => {
    expectBytes({ type: 'disconnect', reasonCode: 0 }, 5, [0xe0, 0]);
    expectBytes({ type: 'auth', reasonCode: 0, properties: { userProperties: [] } }, 5, [0xf0, 0]);
  });

  it('DISCONNECT with a reason code and no properties is one byte', () => {
    expectBytes({ type: 'disconnect', reasonCode: 0x8e }, 5, [0xe0, 1, 0x8e]);
  });
});

describe('encode: 3.x leaves v5-only fields out', () => {
  for (const version of [3, 4] as const) {
    it(`v${version}: acks without reason codes or properties`, () => {
      expectBytes({ type: 'pubrec', packetId: 2, reasonCode: 0x80, properties: { reasonString: 'x' } }, version, [0x50, 2, 0, 2]);
    });
    it(`v${version}: DISCONNECT without a reason code`, () => {
      expectBytes({ type: 'disconnect', reasonCode: 0x04, properties: { reasonString: 'bye' } }, version, [0xe0, 0]);
    });
    it(`v${version}: UNSUBACK without reason codes`, () => {
      expectBytes({ type: 'unsuback', packetId: 3, reasonCodes: [0x11] }, version, [0xb0, 2, 0, 3]);
    });
    it(`v${version}: PUBLISH and CONNACK without properties`, () => {
      expectBytes(
        { type: 'publish', topic: 't', payload: text('x'), qos: 0, retain: false, dup: false, properties: { contentType: 'a' } },
        version, [0x30, 4, 0, 1, 0x74, 0x78],
      );
      expectBytes({ type: 'connack', sessionPresent: true, reasonCode: 0, properties: { maximumQoS: 1 } }, version, [0x20, 2, 1, 0]);
    });
    it(`v${version}: subscription options are the QoS alone`, () => {
      expectBytes(
        { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 1, noLocal: true, retainHandling: 2 }] },
        version, [0x82, 6, 0, 1, 0, 1, 0x61, 1],
      );
    });
  }

  it('AUTH before v5 throws ProtocolError', () => {
    expect(errorCode(() => encode({ type: 'auth' }, 4))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ type: 'auth', reasonCode: 0x18 }, 3))).toBe(ReasonCode.ProtocolError);
  });
});

describe('encode: fields', () => {
  it('writes a CONNECT in its own protocol version, whatever version is asked for', () => {
    for (const version of [3, 4, 5] as const) {
      expect(hex(encode(fixtures.connectV5Full.packet, version))).toBe(hex(fixtures.connectV5Full.bytes));
      expect(hex(encode(fixtures.connectV31.packet, version))).toBe(hex(fixtures.connectV31.bytes));
    }
  });

  it('treats keys set to undefined as absent', () => {
    expectBytes({ type: 'publish', topic: 't', payload: text(''), qos: 0, retain: false, dup: false, packetId: undefined, properties: undefined }, 5, [0x30, 4, 0, 1, 0x74, 0]);
    expectBytes({ type: 'pubrel', packetId: 9, reasonCode: undefined, properties: { reasonString: undefined } }, 5, [0x62, 2, 0, 9]);
  });

  it('never sets DUP on QoS 0 [MQTT-3.3.1-2]', () => {
    expect(encode({ type: 'publish', topic: 't', payload: text(''), qos: 0, retain: false, dup: true }, 4)[0]).toBe(0x30);
  });

  it('encodes non-ASCII strings and counts their bytes', () => {
    const p: Packet = { type: 'publish', topic: 'é/€/😀', payload: text('x'), qos: 1, retain: false, dup: false, packetId: 5 };
    expect(decodeOne(encode(p, 4), 4)).toStrictEqual(p);
    expect(packetSize(p, 4)).toBe(1 + 1 + 2 + (2 + 1 + 3 + 1 + 4) + 2 + 1); // header, topic length, topic, id, payload
  });

  it('writes a lone surrogate as U+FFFD, with the size to match', () => {
    const p: Packet = { type: 'unsubscribe', packetId: 1, topicFilters: ['a\ud800b'] };
    expect((decodeOne(encode(p, 4), 4) as { topicFilters: string[] }).topicFilters).toEqual(['a\ufffdb']);
  });
});

describe('encode: buffers', () => {
  it('encodings kept side by side never overlap, even when carved from a shared slab', () => {
    const packets = Array.from({ length: 300 }, (_, i): Packet => ({
      type: 'publish', topic: `t/${i}`, payload: new Uint8Array((i * 997) % 9000).fill(i & 0xff), qos: 1, retain: false, dup: false, packetId: i + 1,
    }));
    const encoded = packets.map((p) => encode(p, 4)); // an overlap would corrupt an earlier one
    const mismatches = encoded.filter((bytes, i) => hex(bytes) !== hex(encode(packets[i], 4)));
    expect(mismatches).toHaveLength(0);
  });

  it('a publish template owns its bytes instead of pinning a shared slab', () => {
    const bytes = new PublishTemplate({ type: 'publish', topic: 't', payload: new Uint8Array(500), qos: 0, retain: false, dup: false }, 4).bytes();
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(bytes.length);
  });
});

describe('encode: refusals', () => {
  const publish = { type: 'publish', topic: 't', payload: text(''), retain: false, dup: false } as const;

  it('a QoS 1 or 2 PUBLISH needs a packet id 1-65535 [MQTT-2.3.1-1]', () => {
    expect(errorCode(() => encode({ ...publish, qos: 1 }, 4))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ ...publish, qos: 2, packetId: 0 }, 4))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ ...publish, qos: 1, packetId: 65536 }, 4))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ type: 'puback', packetId: 0 }, 4))).toBe(ReasonCode.ProtocolError);
  });

  it('a string over 65535 bytes is refused [MQTT-1.5.4]', () => {
    expect(errorCode(() => encode({ ...publish, qos: 0, topic: 'x'.repeat(65536) }, 4))).toBe(ReasonCode.MalformedPacket);
    expect(errorCode(() => encode({ ...publish, qos: 0, topic: 'é'.repeat(32768) }, 4))).toBe(ReasonCode.MalformedPacket);
  });

  it('a property the packet may not carry, or a value out of its range, is refused', () => {
    expect(errorCode(() => encode({ ...publish, qos: 0, properties: { sessionExpiryInterval: 1 } }, 5))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ ...publish, qos: 0, properties: { topicAlias: 0 } }, 5))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ ...publish, qos: 0, properties: { topicAlias: 65536 } }, 5))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a', qos: 0 }], properties: { subscriptionIdentifiers: [1, 2] } }, 5)))
      .toBe(ReasonCode.ProtocolError);
  });

  it('SUBSCRIBE and UNSUBSCRIBE need at least one entry; a v5 UNSUBACK needs reason codes', () => {
    expect(errorCode(() => encode({ type: 'subscribe', packetId: 1, subscriptions: [] }, 4))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ type: 'unsubscribe', packetId: 1, topicFilters: [] }, 5))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => encode({ type: 'unsuback', packetId: 1 }, 5))).toBe(ReasonCode.ProtocolError);
  });

  it('a 3.x CONNECT with a password but no user name is refused [MQTT-3.1.2-22]', () => {
    const connect = { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'c', password: text('p') } as const;
    expect(errorCode(() => encode(connect, 4))).toBe(ReasonCode.ProtocolError);
  });

  it('a packet over the protocol maximum is PacketTooLarge', () => {
    const payload = { length: 268_435_455 } as Uint8Array; // sized, never written: refused before allocation
    expect(errorCode(() => encode({ ...publish, qos: 0, payload }, 4))).toBe(ReasonCode.PacketTooLarge);
  });
});
