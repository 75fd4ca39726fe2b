// The streaming decoder's contract: framing before buffering, the packet-size limit, zero-copy
// bodies, poisoning after an error, and the protocol version learnt from CONNECT.
import { describe, expect, it } from 'vitest';
import { Decoder, encode, MqttError, ReasonCode, type PublishPacket } from '../../src/protocol/index.ts';
import { fixtures } from '../fixtures/packets.ts';
import { mqtt5, pkt, str } from './bytes.ts';
import { errorCode } from './helpers.ts';

const publish = (payload: number): PublishPacket => ({
  type: 'publish', topic: 'a/b', payload: new Uint8Array(payload).fill(7), qos: 0, retain: false, dup: false,
});

describe('Decoder framing', () => {
  it('returns undefined until a whole packet has arrived', () => {
    const d = new Decoder();
    const bytes = fixtures.publishQos1Basic.bytes;
    for (let i = 0; i < bytes.length - 1; i++) {
      d.push(bytes.subarray(i, i + 1));
      expect(d.next()).toBeUndefined();
    }
    d.push(bytes.subarray(bytes.length - 1));
    expect(d.next()).toStrictEqual(fixtures.publishQos1Basic.packet);
    expect(d.next()).toBeUndefined();
  });

  it('ignores empty chunks', () => {
    const d = new Decoder();
    d.push(new Uint8Array(0));
    expect(d.next()).toBeUndefined();
    d.push(fixtures.pingreqV311.bytes);
    d.push(new Uint8Array(0));
    expect(d.next()).toStrictEqual({ type: 'pingreq' });
  });

  it('decodes several packets from one chunk, in order [MQTT-6.0.0-2]', () => {
    const d = new Decoder();
    const a = fixtures.publishQos0Retain;
    const b = fixtures.pubackV311;
    d.push(new Uint8Array([...a.bytes, ...b.bytes, ...a.bytes]));
    expect([d.next(), d.next(), d.next(), d.next()]).toStrictEqual([a.packet, b.packet, a.packet, undefined]);
  });

  it('decodes packets of both directions on one decoder', () => {
    const d = new Decoder();
    for (const f of [fixtures.connectV311Full, fixtures.connackV311SessionPresent, fixtures.subscribeV311Multiple, fixtures.subackV311]) {
      d.push(f.bytes);
      expect(d.next()).toStrictEqual(f.packet);
    }
  });
});

describe('Decoder copies', () => {
  it('decodes a body inside one chunk in place: the payload is a view on the chunk', () => {
    const chunk = encode(publish(100), 4);
    const d = new Decoder();
    d.push(chunk);
    const p = d.next() as PublishPacket;
    expect(p.payload.buffer).toBe(chunk.buffer);
    expect(p.payload.byteOffset).toBe(chunk.byteOffset + chunk.length - 100);
  });

  it('assembles a body spanning chunks once, into its own buffer', () => {
    const bytes = encode(publish(100), 4);
    const d = new Decoder();
    d.push(bytes.slice(0, 50));
    expect(d.next()).toBeUndefined();
    d.push(bytes.slice(50));
    const p = d.next() as PublishPacket;
    expect(p).toStrictEqual(publish(100));
    expect(p.payload.buffer.byteLength).toBe(bytes.length - 2);
  });
});

describe('Decoder maxPacketSize', () => {
  it('counts the whole packet: a packet of exactly maxPacketSize is accepted, one byte more is not', () => {
    const bytes = encode(publish(95), 4); // 2 + 5 + 95
    expect(bytes.length).toBe(102);
    const ok = new Decoder({ maxPacketSize: 102 });
    ok.push(bytes);
    expect(ok.next()).toStrictEqual(publish(95));
    const tooBig = new Decoder({ maxPacketSize: 101 });
    tooBig.push(bytes);
    expect(errorCode(() => tooBig.next())).toBe(ReasonCode.PacketTooLarge);
  });

  it('refuses a packet as soon as its fixed header says it is too large, before its body arrives', () => {
    const d = new Decoder({ maxPacketSize: 1024 });
    d.push(new Uint8Array([0x30, 0x80])); // PUBLISH, remaining length not complete yet
    expect(d.next()).toBeUndefined();
    d.push(new Uint8Array([0x80, 0x01])); // remaining length 16384
    expect(errorCode(() => d.next())).toBe(ReasonCode.PacketTooLarge);
  });

  it('by default accepts the protocol maximum: a header announcing 268435455 bytes just waits', () => {
    const d = new Decoder();
    d.push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0x7f]));
    expect(d.next()).toBeUndefined();
  });
});

describe('Decoder errors', () => {
  it('throws MqttError and keeps throwing the same error afterwards', () => {
    const d = new Decoder();
    d.push(new Uint8Array([0x00, 0x00]));
    let first: unknown;
    try {
      d.next();
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(MqttError);
    d.push(fixtures.pingreqV311.bytes);
    expect(() => d.next()).toThrow(first as Error);
    try {
      d.next();
    } catch (err) {
      expect(err).toBe(first);
    }
  });

  it('rejects a bad first byte without waiting for the remaining length', () => {
    const d = new Decoder();
    d.push(new Uint8Array([0x61])); // PUBREL-style flags on PUBREC
    expect(errorCode(() => d.next())).toBe(ReasonCode.MalformedPacket);
  });
});

describe('Decoder protocolVersion', () => {
  it('defaults to 4 and takes the option', () => {
    expect(new Decoder().protocolVersion).toBe(4);
    expect(new Decoder({ protocolVersion: 5 }).protocolVersion).toBe(5);
  });

  for (const f of [fixtures.connectV31, fixtures.connectV311Minimal, fixtures.connectV5Full]) {
    it(`is set from a decoded CONNECT (${f.packet.protocolVersion}) and used for the packets after it`, () => {
      const d = new Decoder();
      d.push(f.bytes);
      d.next();
      expect(d.protocolVersion).toBe(f.packet.protocolVersion);
    });
  }

  it('then reads v5 forms: a v5 PUBLISH after a v5 CONNECT', () => {
    const d = new Decoder();
    d.push(fixtures.connectV5Full.bytes);
    d.push(fixtures.publishQos1V5Properties.bytes);
    d.next();
    expect(d.next()).toStrictEqual(fixtures.publishQos1V5Properties.packet);
  });

  it('is already set when a CONNECT fails after its level (so the refusal uses that format)', () => {
    const d = new Decoder();
    d.push(pkt(0x10, mqtt5, 0x03, 0, 0, 0, str('c'))); // reserved flag set [MQTT-3.1.2-3]
    expect(errorCode(() => d.next())).toBe(ReasonCode.MalformedPacket);
    expect(d.protocolVersion).toBe(5);
  });

  it("is set to 3 when 'MQTT' comes with level 3, which is UnsupportedProtocolVersion [MQTT-3.1.2-1]", () => {
    const d = new Decoder();
    d.push(pkt(0x10, str('MQTT'), 3, 0x02, 0, 0, str('c')));
    expect(errorCode(() => d.next())).toBe(ReasonCode.UnsupportedProtocolVersion);
    expect(d.protocolVersion).toBe(3);
  });

  it('stays at 4 for an unknown level, which is UnsupportedProtocolVersion [MQTT-3.1.2-2]', () => {
    const d = new Decoder();
    d.push(pkt(0x10, str('MQTT'), 7, 0x02, 0, 0, str('c')));
    expect(errorCode(() => d.next())).toBe(ReasonCode.UnsupportedProtocolVersion);
    expect(d.protocolVersion).toBe(4);
  });
});

describe('Decoder strings', () => {
  it('keeps a BOM as U+FEFF, never strips it [MQTT-1.5.4-3]', () => {
    const d = new Decoder();
    d.push(pkt(0x30, str([0xef, 0xbb, 0xbf, 0x61]), 0x78));
    expect((d.next() as PublishPacket).topic).toBe('\ufeffa');
  });

  it('decodes long ASCII and non-ASCII strings', () => {
    const topic = `${'x'.repeat(300)}/é/${'y'.repeat(100)}`;
    const long: PublishPacket = { ...publish(1), topic };
    const d = new Decoder();
    d.push(encode(long, 4));
    expect(d.next()).toStrictEqual(long);
  });
});
