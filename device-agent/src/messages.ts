// The agent's wording in one place, so every command says a thing the same way: reason codes
// with their names ("0x87 NotAuthorized"), clients by id and address, counts, network failures.
import { ConnackReturnCode, reasonCodeText, type ProtocolVersion } from './codec.ts';

/** "0x87 NotAuthorized" (v5 reason code as the packet type carries it, [MQTT-2.4]). */
export const reason = reasonCodeText;

const v3Names = new Map<number, string>(Object.entries(ConnackReturnCode).map(([name, code]) => [code, name]));

/** A refusing CONNACK: "0x86 BadUserNameOrPassword", or "return code 4 BadUserNameOrPassword" before MQTT 5 [MQTT-3.2.2.3]. */
export function connackReason(code: number, version: ProtocolVersion): string {
  if (version === 5) return reason(code, 'connack');
  const name = v3Names.get(code);
  return `return code ${code}${name ? ` ${name}` : ''}`;
}

/** `client "sensor-1" (127.0.0.1:46306)`; `client without id (…)` when the device sent an empty one. */
export function clientLabel(clientId: string | undefined, address: string): string {
  return clientId ? `client "${clientId}" (${address})` : `client without id (${address})`;
}

/** "1 message", "12 messages". */
export const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

/**
 * Why a connection could not be opened, in words: Node's network and TLS errors carry OpenSSL's
 * raw text ("…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:…").
 */
export function networkError(err: Error & { code?: string; hostname?: string; address?: string; port?: number }): string {
  const at = err.address ? ` (${err.address}${err.port ? `:${err.port}` : ''})` : '';
  switch (err.code) {
    case 'ECONNREFUSED':
      return `connection refused: nothing listens there${at}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host ${err.hostname ?? ''} not found (DNS)`.replace('  ', ' ');
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route or no answer${at}`;
    case 'ECONNRESET':
      return `connection reset by the server${at}`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `the server's TLS certificate is not trusted (${err.code}); --cafile adds a CA, --insecure skips the check`;
  }
  if (/wrong version number|packet length too long|unknown protocol/i.test(err.message)) {
    return 'TLS handshake failed: the server does not speak TLS on this port (ws:// or mqtt:// instead?)';
  }
  if (/Opening handshake has timed out/.test(err.message)) return 'no WebSocket answer in time';
  return (/^[^\n:]*(?::[^\n:]*)?/.exec(err.message)?.[0] ?? err.message).trim();
}
