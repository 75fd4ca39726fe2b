// Fuzzing the decoder with random bytes and with mutated valid streams (bit flips, truncation,
// insertion, deletion, corrupted remaining lengths), cut into random chunks, on server and
// client versions, with and without a small maxPacketSize. A decoder may only return packets
// or throw MqttError; whatever it returns must re-encode to itself; a packet over
// maxPacketSize is refused from its fixed header alone. FUZZ_CASES sets the number of cases
// (`npm run fuzz` runs a million).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder, encode, MqttError, ReasonCode, type Packet, type ProtocolVersion } from '../../src/protocol/index.ts';
import { packet, versions } from './arbitraries.ts';
import { varint } from './bytes.ts';

const cases = Number(process.env.FUZZ_CASES ?? 3000);
const runs = Math.max(1, Math.round(cases / 4)); // four properties share the cases
const timeout = Math.max(20_000, cases * 2);

const allowedCodes = new Set<number>([
  ReasonCode.MalformedPacket, ReasonCode.ProtocolError, ReasonCode.UnsupportedProtocolVersion, ReasonCode.PacketTooLarge,
]);

interface Setup {
  version: ProtocolVersion;
  maxPacketSize?: number;
}
const setup: fc.Arbitrary<Setup> = fc.record({
  version: fc.constantFrom<ProtocolVersion>(3, 4, 5),
  maxPacketSize: fc.option(fc.integer({ min: 2, max: 64 }), { nil: undefined }),
});

function chunksOf(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return [0, ...points].map((from, i) => bytes.subarray(from, [...points, bytes.length][i]));
}

/** Feeds the chunks; returns the packets with the version they were decoded in. Fails on anything but MqttError. */
function feed(bytes: Uint8Array, cuts: number[], s: Setup): { packet: Packet; version: ProtocolVersion }[] {
  const decoder = new Decoder({ protocolVersion: s.version, maxPacketSize: s.maxPacketSize });
  const out: { packet: Packet; version: ProtocolVersion }[] = [];
  try {
    for (const chunk of chunksOf(bytes, cuts)) {
      decoder.push(chunk);
      for (let p = decoder.next(); p; p = decoder.next()) {
        out.push({ packet: p, version: decoder.protocolVersion });
        if (out.length > bytes.length / 2) throw new Error('decoder returned more packets than the bytes can hold');
      }
    }
  } catch (err) {
    if (!(err instanceof MqttError)) throw err;
    expect(allowedCodes.has(err.reasonCode), `reason code 0x${err.reasonCode.toString(16)}`).toBe(true);
    expect(() => decoder.next()).toThrow(err); // poisoned
  }
  return out;
}

/** A v5 reason code 0 with nothing after it is written in the short form, which omits it. */
function shortForm(p: Packet): Packet {
  if (!('reasonCode' in p) || p.reasonCode !== 0 || p.type === 'connack' || p.properties) return p;
  const { reasonCode: _, ...rest } = p;
  return rest as Packet;
}

/** Whatever the decoder accepts, the encoder writes back to the same packet. */
function reencodes({ packet: p, version }: { packet: Packet; version: ProtocolVersion }): void {
  const decoder = new Decoder({ protocolVersion: version });
  decoder.push(encode(p, version));
  expect(decoder.next()).toStrictEqual(shortForm(p));
}

interface Stream {
  bytes: Uint8Array;
  starts: number[];
}

/** Valid packets on one version, encoded back to back, with where each one starts. */
const validStream: fc.Arbitrary<Stream> = fc
  .constantFrom(...versions)
  .chain((v) => fc.array(packet(v), { minLength: 1, maxLength: 6 }).map((ps) => ps.map((p) => encode(p, v))))
  .map((parts) => {
    const starts: number[] = [];
    let at = 0;
    for (const p of parts) starts.push((at += p.length) - p.length);
    const bytes = new Uint8Array(at);
    parts.forEach((p, i) => bytes.set(p, starts[i]));
    return { bytes, starts };
  });

type Mutation = (s: Stream) => Uint8Array;
const splice = (b: Uint8Array, at: number, remove: number, insert: ArrayLike<number> = []): Uint8Array =>
  new Uint8Array([...b.subarray(0, at), ...Array.from(insert), ...b.subarray(at + remove)]);
const pos = (b: Uint8Array, n: number) => n % (b.length + 1);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]): Mutation => ({ bytes }) => {
    const b = bytes.slice();
    if (b.length) b[at % b.length] ^= 1 << bit;
    return b;
  }),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, value]): Mutation => ({ bytes }) => {
    const b = bytes.slice();
    if (b.length) b[at % b.length] = value;
    return b;
  }),
  fc.nat().map((at): Mutation => ({ bytes }) => bytes.slice(0, pos(bytes, at))),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 6 })).map(([at, ins]): Mutation => ({ bytes }) => splice(bytes, pos(bytes, at), 0, ins)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 6 })).map(([at, n]): Mutation => ({ bytes }) => splice(bytes, pos(bytes, at), n)),
  // Rewrites one packet's remaining length, possibly changing how many bytes it takes.
  fc.tuple(fc.nat(), fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 268_435_455 }))).map(
    ([n, value]): Mutation => ({ bytes, starts }) => {
      const at = starts[n % starts.length] + 1;
      let old = 1;
      while (bytes[at + old - 1] & 0x80 && old < 4) old++;
      return splice(bytes, at, old, varint(value));
    },
  ),
  // A remaining length that never ends: continuation bits on every byte.
  fc.nat().map((n): Mutation => ({ bytes, starts }) => splice(bytes, starts[n % starts.length] + 1, 1, [0xff, 0xff, 0xff, 0xff, 0xff])),
);

describe('fuzz', () => {
  it(`random bytes only ever yield packets or MqttError (${runs} cases)`, { timeout }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.array(fc.nat(), { maxLength: 8 }), setup, (bytes, cuts, s) => {
        feed(bytes, cuts, s).forEach(reencodes);
      }),
      { numRuns: runs },
    );
  });

  it(`random bytes after a valid first byte only ever yield packets or MqttError (${runs} cases)`, { timeout }, () => {
    const first = fc.integer({ min: 1, max: 15 }).chain((type) =>
      fc.constant(type === 3 ? 0x30 : type === 6 || type === 8 || type === 10 ? (type << 4) | 2 : type << 4),
    );
    const body = fc.uint8Array({ maxLength: 40 });
    fc.assert(
      fc.property(first, body, fc.array(fc.nat(), { maxLength: 4 }), setup, (f, b, cuts, s) => {
        const bytes = new Uint8Array([f, ...varint(b.length), ...b]);
        feed(bytes, cuts, { ...s, maxPacketSize: undefined }).forEach(reencodes);
      }),
      { numRuns: runs },
    );
  });

  it(`mutated valid streams only ever yield packets or MqttError (${runs} cases)`, { timeout }, () => {
    fc.assert(
      fc.property(validStream, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 8 }), setup, (stream, ms, cuts, s) => {
        let bytes = stream.bytes;
        for (const m of ms) bytes = m({ bytes, starts: stream.starts.filter((at) => at < bytes.length - 1) });
        feed(bytes, cuts, s).forEach(reencodes);
      }),
      { numRuns: runs },
    );
  });

  it(`a packet over maxPacketSize is refused from its fixed header, before its body is buffered (${runs} cases)`, { timeout }, () => {
    let refused = 0;
    fc.assert(
      fc.property(validStream, fc.integer({ min: 2, max: 64 }), (stream, max) => {
        const decoder = new Decoder({ protocolVersion: 5, maxPacketSize: max });
        const bytes = stream.bytes;
        for (let i = 0; i < bytes.length; i++) {
          decoder.push(bytes.subarray(i, i + 1));
          try {
            while (decoder.next());
          } catch (err) {
            if (!(err instanceof MqttError) || err.reasonCode !== ReasonCode.PacketTooLarge) return; // a v3/v4 stream may be malformed on v5
            const start = stream.starts.filter((s) => s <= i).at(-1) ?? 0;
            let header = 2;
            while (bytes[start + header - 1] & 0x80) header++;
            expect(i - start + 1, 'bytes of the refused packet pushed').toBe(header);
            refused++;
            return;
          }
        }
      }),
      { numRuns: runs },
    );
    expect(refused).toBeGreaterThan(runs / 4);
  });
});
