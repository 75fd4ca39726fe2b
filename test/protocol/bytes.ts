// Byte builders for hand-made (often malformed) packets; the remaining length is computed.
const utf8 = new TextEncoder();

export type Part = number | readonly number[] | Uint8Array;

export function flat(...parts: Part[]): number[] {
  return parts.flatMap((p) => (typeof p === 'number' ? [p] : Array.from(p)));
}

export function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return out;
}

/** A length-prefixed string from text, or from raw bytes when given numbers. */
export function str(s: string | readonly number[]): number[] {
  const b = typeof s === 'string' ? Array.from(utf8.encode(s)) : [...s];
  return [b.length >> 8, b.length & 0xff, ...b];
}

/** A property block: its varint length, then the properties. */
export function props(...parts: Part[]): number[] {
  const body = flat(...parts);
  return [...varint(body.length), ...body];
}

/** A whole packet: first byte, computed remaining length, body. */
export function pkt(first: number, ...body: Part[]): Uint8Array {
  const b = flat(...body);
  return new Uint8Array([first, ...varint(b.length), ...b]);
}

/** A CONNECT body prefix: protocol name and level. */
export const mqtt5 = [...str('MQTT'), 5];
export const mqtt4 = [...str('MQTT'), 4];
export const mqtt3 = [...str('MQIsdp'), 3];
