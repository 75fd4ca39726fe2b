// UTF-8 for MQTT: well-formedness [MQTT-1.5.4-1], the U+0000 ban on strings [MQTT-1.5.4-2],
// and a BOM kept as U+FEFF [MQTT-1.5.4-3]. Short ASCII strings, the common case for topics
// and client ids, skip TextDecoder/TextEncoder entirely.
import { MqttError } from './error.ts';
import { ReasonCode } from './reason-code.ts';

const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const encoder = new TextEncoder();

/** Whether the bytes are well-formed UTF-8 (Unicode Table 3-7: no overlongs, surrogates or > U+10FFFF). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isWellFormed(bytes, 0, bytes.length);
}

function isWellFormed(b: Uint8Array, i: number, end: number): boolean {
  while (i < end) {
    const c = b[i];
    if (c < 0x80) i += 1;
    else if (c < 0xc2) return false;
    else if (c < 0xe0) {
      if (i + 1 >= end || (b[i + 1] & 0xc0) !== 0x80) return false;
      i += 2;
    } else if (c < 0xf0) {
      const c1 = b[i + 1];
      const lo = c === 0xe0 ? 0xa0 : 0x80;
      const hi = c === 0xed ? 0x9f : 0xbf;
      if (i + 2 >= end || c1 < lo || c1 > hi || (b[i + 2] & 0xc0) !== 0x80) return false;
      i += 3;
    } else if (c < 0xf5) {
      const c1 = b[i + 1];
      const lo = c === 0xf0 ? 0x90 : 0x80;
      const hi = c === 0xf4 ? 0x8f : 0xbf;
      if (i + 3 >= end || c1 < lo || c1 > hi || (b[i + 2] & 0xc0) !== 0x80 || (b[i + 3] & 0xc0) !== 0x80) return false;
      i += 4;
    } else return false;
  }
  return true;
}

/** Decodes an MQTT UTF-8 string held in bytes[start, end). */
export function decodeString(b: Uint8Array, start: number, end: number): string {
  let high = 0;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === 0) throw new MqttError(ReasonCode.MalformedPacket, 'string contains U+0000'); // [MQTT-1.5.4-2]
    high |= c;
  }
  if (high < 0x80) return end - start <= 64 ? ascii(b, start, end) : decoder.decode(b.subarray(start, end));
  if (!isWellFormed(b, start, end)) {
    throw new MqttError(ReasonCode.MalformedPacket, 'string is not well-formed UTF-8'); // [MQTT-1.5.4-1]
  }
  return decoder.decode(b.subarray(start, end));
}

function ascii(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Bytes the string takes in UTF-8; a lone surrogate counts as U+FFFD, as TextEncoder writes it. */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c < 0xd800 || c > 0xdbff || i + 1 === n) bytes += 2;
    else {
      const d = s.charCodeAt(i + 1);
      bytes += 2;
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return bytes;
}

/** Writes s as UTF-8 at b[at]; returns the position after it. The caller sized b with utf8Length. */
export function writeString(b: Uint8Array, at: number, s: string): number {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    b[at++] = c;
  }
  if (i === n) return at;
  return at + encoder.encodeInto(s.slice(i), b.subarray(at)).written;
}
