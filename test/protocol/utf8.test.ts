// isValidUtf8 against the platform's fatal TextDecoder as an oracle, plus the cases the spec
// names: overlongs, surrogates and code points above U+10FFFF are ill-formed [MQTT-1.5.4-1].
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isValidUtf8 } from '../../src/protocol/index.ts';

const fatal = new TextDecoder('utf-8', { fatal: true });
function oracle(bytes: Uint8Array): boolean {
  try {
    fatal.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

describe('isValidUtf8', () => {
  for (const [name, bytes] of [
    ['empty', []], ['ASCII', [0x61, 0x62]], ['U+0000 (allowed here; MQTT strings refuse it separately)', [0x00]],
    ['2-byte é', [0xc3, 0xa9]], ['3-byte €', [0xe2, 0x82, 0xac]], ['4-byte 😀', [0xf0, 0x9f, 0x98, 0x80]],
    ['U+FEFF BOM', [0xef, 0xbb, 0xbf]], ['U+D7FF', [0xed, 0x9f, 0xbf]], ['U+E000', [0xee, 0x80, 0x80]], ['U+10FFFF', [0xf4, 0x8f, 0xbf, 0xbf]],
    ['U+FFFF (a noncharacter, still well-formed)', [0xef, 0xbf, 0xbf]],
  ] as const) {
    it(`accepts ${name}`, () => expect(isValidUtf8(new Uint8Array(bytes))).toBe(true));
  }

  for (const [name, bytes] of [
    ['a lone continuation byte', [0x80]], ['overlong "/" in two bytes', [0xc0, 0xaf]], ['overlong U+0000', [0xc0, 0x80]],
    ['overlong in three bytes', [0xe0, 0x80, 0xaf]], ['overlong in four bytes', [0xf0, 0x80, 0x80, 0xaf]],
    ['a high surrogate U+D800', [0xed, 0xa0, 0x80]], ['a low surrogate U+DFFF', [0xed, 0xbf, 0xbf]],
    ['U+110000', [0xf4, 0x90, 0x80, 0x80]], ['lead byte 0xF5', [0xf5, 0x80, 0x80, 0x80]], ['byte 0xFF', [0xff]],
    ['a truncated 2-byte sequence', [0xc3]], ['a truncated 3-byte sequence', [0xe2, 0x82]], ['a truncated 4-byte sequence', [0xf0, 0x9f, 0x98]],
    ['a bad continuation', [0xe2, 0x28, 0xa1]],
  ] as const) {
    it(`refuses ${name} [MQTT-1.5.4-1]`, () => expect(isValidUtf8(new Uint8Array(bytes))).toBe(false));
  }

  it('agrees with a fatal TextDecoder on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 16 }), (b) => isValidUtf8(b) === oracle(b)), { numRuns: 3000 });
  });

  it('agrees with a fatal TextDecoder on mutated valid UTF-8', () => {
    // any Unicode scalar value, drawn as a number: fc.string's 'binary' unit draws the same set
    // about 20 times slower, which took this test past 5 s on a loaded machine
    const scalar = fc.oneof(fc.integer({ min: 0, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff }));
    const valid = fc.array(scalar, { minLength: 1, maxLength: 8 }).map((points) => String.fromCodePoint(...points));
    const mutated = fc.tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([s, at, byte]) => {
      const b = new TextEncoder().encode(s);
      b[at % b.length] = byte;
      return b;
    });
    fc.assert(fc.property(mutated, (b) => isValidUtf8(b) === oracle(b)), { numRuns: 3000 });
  });
});
