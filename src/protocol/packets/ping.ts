// PINGREQ and PINGRESP [MQTT-3.12, 3.13]: a fixed header and nothing else.
import type { PingreqPacket, PingrespPacket } from '../packet.ts';
import type { ByteReader } from '../reader.ts';

export function decodePing(r: ByteReader, type: 'pingreq' | 'pingresp'): PingreqPacket | PingrespPacket {
  r.done(type.toUpperCase());
  return type === 'pingreq' ? { type: 'pingreq' } : { type: 'pingresp' };
}

export function sizePing(): number {
  return 0;
}

export function encodePing(): void {}
