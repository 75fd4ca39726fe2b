// Outgoing WebSocket messages: the packets of one event joined up to a size clients accept, cut
// only between packets (receivers must not assume alignment [MQTT-6.0.0-2], but many do).

/**
 * Largest WebSocket message the broker sends, unless one packet alone is larger (many clients
 * refuse frames of tens of megabytes).
 */
export const maxFrameBytes = 256 * 1024;

/** Sends the encoded packets as few messages as maxFrameBytes allows; returns the bytes sent. */
export function writeFrames(parts: Uint8Array[], send: (frame: Uint8Array) => void): number {
  let [start, size, bytes] = [0, 0, 0];
  for (let i = 0; i <= parts.length; i++) {
    if (i === parts.length || (size && size + parts[i].length > maxFrameBytes)) {
      send(i - start === 1 ? parts[start] : concat(parts, start, i));
      [start, bytes, size] = [i, bytes + size, 0];
    }
    if (i < parts.length) size += parts[i].length;
  }
  return bytes;
}

function concat(parts: Uint8Array[], start: number, end: number): Uint8Array {
  let size = 0;
  for (let i = start; i < end; i++) size += parts[i].length;
  const out = new Uint8Array(size);
  for (let i = start, at = 0; i < end; at += parts[i++].length) out.set(parts[i], at);
  return out;
}
