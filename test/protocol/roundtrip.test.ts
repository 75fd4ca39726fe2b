// Property-based: random valid packets of every type and version survive encode then decode,
// and a stream of many packets decodes the same however it is cut into chunks [MQTT-6.0.0-2].
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder, encode, type Packet, type ProtocolVersion } from '../../src/protocol/index.ts';
import { packet, packetArbs, versions } from './arbitraries.ts';
import { decodeOne } from './helpers.ts';

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

function decodeChunks(chunks: Uint8Array[], version: ProtocolVersion): Packet[] {
  const decoder = new Decoder({ protocolVersion: version });
  const out: Packet[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let p = decoder.next(); p; p = decoder.next()) out.push(p);
  }
  return out;
}

describe('round trip', () => {
  for (const version of versions) {
    for (const [family, make] of Object.entries(packetArbs)) {
      if (family === 'auth' && version < 5) continue;
      it(`${family} on v${version}: decode(encode(packet)) equals the packet`, () => {
        fc.assert(
          fc.property(make(version), (p) => {
            expect(decodeOne(encode(p, version), version)).toStrictEqual(p);
          }),
          { numRuns: 150 },
        );
      });
    }
  }
});

describe('chunking', () => {
  for (const version of versions) {
    it(`v${version}: any split of a stream of packets decodes to the same packets [MQTT-6.0.0-2]`, () => {
      const stream = fc.array(packet(version), { minLength: 1, maxLength: 12 });
      const cuts = fc.array(fc.nat(), { maxLength: 24 });
      fc.assert(
        fc.property(stream, cuts, (packets, rawCuts) => {
          const bytes = concat(packets.map((p) => encode(p, version)));
          const points = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const chunks = [0, ...points].map((from, i) => bytes.subarray(from, [...points, bytes.length][i]));
          expect(decodeChunks(chunks, version)).toStrictEqual(packets);
        }),
        { numRuns: 200 },
      );
    });

    it(`v${version}: a stream fed one byte at a time decodes to the same packets`, () => {
      fc.assert(
        fc.property(fc.array(packet(version), { minLength: 1, maxLength: 5 }), (packets) => {
          const bytes = concat(packets.map((p) => encode(p, version)));
          const chunks = Array.from(bytes, (_, i) => bytes.subarray(i, i + 1));
          expect(decodeChunks(chunks, version)).toStrictEqual(packets);
        }),
        { numRuns: 50 },
      );
    });
  }
});
