// PublishTemplate: one encode per message, a packet-id patch per receiver.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encode, PublishTemplate, ReasonCode, type PublishPacket } from '../../src/protocol/index.ts';
import { packetArbs, packetId, versions } from './arbitraries.ts';
import { errorCode, hex } from './helpers.ts';

const text = (s: string) => new TextEncoder().encode(s);
const qos1: PublishPacket = { type: 'publish', topic: 'ü/t', payload: text('hello'), qos: 1, retain: true, dup: false, packetId: 0 };

describe('PublishTemplate', () => {
  it('QoS 0: returns the one shared encoding, with size its length', () => {
    const p: PublishPacket = { ...qos1, qos: 0, packetId: undefined };
    const t = new PublishTemplate(p, 4);
    expect(t.bytes()).toBe(t.bytes(7, true));
    expect(hex(t.bytes())).toBe(hex(encode(p, 4)));
    expect(t.size).toBe(t.bytes().length);
  });

  it('QoS > 0: patches the packet id (and DUP) into a fresh copy each time', () => {
    const t = new PublishTemplate(qos1, 5);
    const a = t.bytes(513);
    const b = t.bytes(514, true);
    expect(a).not.toBe(b);
    expect(hex(a)).toBe(hex(encode({ ...qos1, packetId: 513 }, 5)));
    expect(hex(b)).toBe(hex(encode({ ...qos1, packetId: 514, dup: true }, 5)));
    expect(hex(t.bytes(513))).toBe(hex(a));
    expect(t.size).toBe(a.length);
  });

  it("uses the template's own packet id when none is given, and refuses a missing or invalid one [MQTT-2.3.1-1]", () => {
    expect(hex(new PublishTemplate({ ...qos1, packetId: 9 }, 4).bytes())).toBe(hex(encode({ ...qos1, packetId: 9 }, 4)));
    const t = new PublishTemplate(qos1, 4);
    expect(errorCode(() => t.bytes())).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => t.bytes(0))).toBe(ReasonCode.ProtocolError);
    expect(errorCode(() => t.bytes(65536))).toBe(ReasonCode.ProtocolError);
  });

  for (const version of versions) {
    it(`v${version}: bytes(id, dup) equals encoding the packet with that id and DUP`, () => {
      fc.assert(
        fc.property(packetArbs.publish(version), packetId, fc.boolean(), (p, id, dup) => {
          const publish = p as PublishPacket;
          const t = new PublishTemplate(publish, version);
          const expected = publish.qos > 0 ? encode({ ...publish, packetId: id, dup }, version) : encode(publish, version);
          expect(hex(t.bytes(id, dup))).toBe(hex(expected));
          expect(t.size).toBe(expected.length);
        }),
        { numRuns: 200 },
      );
    });
  }
});
