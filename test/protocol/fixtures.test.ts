// Every named fixture both ways: its bytes decode to its packet and its packet encodes to its
// bytes (mqtt-packet's testParseGenerate, with the fixtures shared with the broker tests).
import { describe, expect, it } from 'vitest';
import { encode, packetSize, PacketTypeCode, propertyTable, type PacketType, type ProtocolVersion } from '../../src/protocol/index.ts';
import { allFixtures } from '../fixtures/packets.ts';
import { decodeOne, hex } from './helpers.ts';

describe('packet fixtures', () => {
  for (const f of allFixtures) {
    it(`${f.name}: bytes decode to the packet`, () => {
      expect(decodeOne(f.bytes, f.version)).toStrictEqual(f.packet);
    });
    if (!f.canonical) continue;
    it(`${f.name}: the packet encodes to the bytes`, () => {
      expect(hex(encode(f.packet, f.version))).toBe(hex(f.bytes));
      expect(packetSize(f.packet, f.version)).toBe(f.bytes.length);
    });
  }

  it('cover every packet type on every protocol version (AUTH on 5 only)', () => {
    const seen = new Set(allFixtures.map((f) => `${f.packet.type}@${f.version}`));
    const missing: string[] = [];
    for (const type of Object.keys(PacketTypeCode) as PacketType[]) {
      for (const version of [3, 4, 5] as ProtocolVersion[]) {
        if (type === 'auth' && version < 5) continue;
        if (!seen.has(`${type}@${version}`)) missing.push(`${type}@${version}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('fixture coverage', () => {
  it('uses every MQTT 5 property at least once', () => {
    const used = new Set<string>();
    for (const f of allFixtures) {
      const p = f.packet as { properties?: object; will?: { properties?: object } };
      for (const props of [p.properties, p.will?.properties]) for (const name of Object.keys(props ?? {})) used.add(name);
    }
    expect(propertyTable.map((row) => row.name).filter((name) => !used.has(name))).toEqual([]);
  });
});
