// Small helpers shared by the codec tests.
import { expect } from 'vitest';
import { Decoder, MqttError, type Packet, type ProtocolVersion } from '../../src/protocol/index.ts';

/** Decodes a byte stream that must hold whole packets only. */
export function decodeAll(bytes: Uint8Array, version: ProtocolVersion, maxPacketSize?: number): Packet[] {
  const decoder = new Decoder({ protocolVersion: version, maxPacketSize });
  decoder.push(bytes);
  const out: Packet[] = [];
  for (let p = decoder.next(); p; p = decoder.next()) out.push(p);
  return out;
}

/** The one packet the bytes hold. */
export function decodeOne(bytes: Uint8Array, version: ProtocolVersion): Packet {
  const packets = decodeAll(bytes, version);
  expect(packets).toHaveLength(1);
  return packets[0];
}

/** The reason code of the MqttError that decoding throws. */
export function decodeError(bytes: Uint8Array, version: ProtocolVersion): number {
  try {
    const packets = decodeAll(bytes, version);
    throw new Error(`decoded ${JSON.stringify(packets)} without an error`);
  } catch (err) {
    if (!(err instanceof MqttError)) throw err;
    return err.reasonCode;
  }
}

/** The reason code of the MqttError that fn throws. */
export function errorCode(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof MqttError) return err.reasonCode;
    throw err;
  }
  throw new Error('expected an MqttError, nothing was thrown');
}

export const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
