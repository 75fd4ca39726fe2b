// encode(packet, version): size once, allocate once, write once. The packet files size and
// write the bodies; this file owns the fixed header [MQTT-2.1].
import { MqttError } from './error.ts';
import { PacketTypeCode, type Packet, type ProtocolVersion } from './packet.ts';
import { encodeAck, sizeAck } from './packets/ack.ts';
import { encodeAuth, sizeAuth } from './packets/auth.ts';
import { encodeConnack, sizeConnack } from './packets/connack.ts';
import { encodeConnect, sizeConnect } from './packets/connect.ts';
import { encodeDisconnect, sizeDisconnect } from './packets/disconnect.ts';
import { encodePing, sizePing } from './packets/ping.ts';
import { encodePublish, publishFlags, sizePublish } from './packets/publish.ts';
import { encodeSuback, sizeSuback } from './packets/suback.ts';
import { encodeSubscribe, sizeSubscribe } from './packets/subscribe.ts';
import { encodeUnsuback, sizeUnsuback } from './packets/unsuback.ts';
import { encodeUnsubscribe, sizeUnsubscribe } from './packets/unsubscribe.ts';
import { ReasonCode } from './reason-code.ts';
import { ByteWriter, maxVarint, varintSize } from './writer.ts';

/**
 * The packet as bytes. A CONNECT is written in its own protocolVersion. The result may be a
 * view on a shared buffer (see writer.ts): send it, or slice() it to keep it for long.
 */
export function encode(packet: Packet, version: ProtocolVersion): Uint8Array {
  const length = remainingLength(packet, version);
  const w = new ByteWriter(1 + varintSize(length) + length);
  w.u8(firstByte(packet));
  w.varint(length);
  writeBody(w, packet, version);
  if (w.pos !== w.bytes.length) throw new MqttError(ReasonCode.ImplementationSpecificError, `${packet.type} size mismatch`);
  return w.bytes;
}

/** Bytes encode() would produce, fixed header included. */
export function packetSize(packet: Packet, version: ProtocolVersion): number {
  const length = remainingLength(packet, version);
  return 1 + varintSize(length) + length;
}

function firstByte(packet: Packet): number {
  const type = packet.type;
  const flags = type === 'publish' ? publishFlags(packet) : type === 'pubrel' || type === 'subscribe' || type === 'unsubscribe' ? 2 : 0;
  return (PacketTypeCode[type] << 4) | flags; // [MQTT-2.2.2-1]
}

function remainingLength(packet: Packet, version: ProtocolVersion): number {
  const length = bodySize(packet, version);
  if (length > maxVarint) throw new MqttError(ReasonCode.PacketTooLarge, `remaining length ${length} exceeds ${maxVarint}`);
  return length;
}

function bodySize(p: Packet, v: ProtocolVersion): number {
  switch (p.type) {
    case 'connect': return sizeConnect(p);
    case 'connack': return sizeConnack(p, v);
    case 'publish': return sizePublish(p, v);
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': return sizeAck(p, v);
    case 'subscribe': return sizeSubscribe(p, v);
    case 'suback': return sizeSuback(p, v);
    case 'unsubscribe': return sizeUnsubscribe(p, v);
    case 'unsuback': return sizeUnsuback(p, v);
    case 'pingreq': case 'pingresp': return sizePing();
    case 'disconnect': return sizeDisconnect(p, v);
    case 'auth': return sizeAuth(p, v);
  }
}

function writeBody(w: ByteWriter, p: Packet, v: ProtocolVersion): void {
  switch (p.type) {
    case 'connect': return encodeConnect(w, p);
    case 'connack': return encodeConnack(w, p, v);
    case 'publish': return encodePublish(w, p, v);
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': return encodeAck(w, p, v);
    case 'subscribe': return encodeSubscribe(w, p, v);
    case 'suback': return encodeSuback(w, p, v);
    case 'unsubscribe': return encodeUnsubscribe(w, p, v);
    case 'unsuback': return encodeUnsuback(w, p, v);
    case 'pingreq': case 'pingresp': return encodePing();
    case 'disconnect': return encodeDisconnect(w, p, v);
    case 'auth': return encodeAuth(w, p);
  }
}
