// Who a session belongs to. A session is bound to the identity that opened it: another identity
// may not resume it, take its connection over, or end it with a clean start. MQTT 5 §5.4.2 says
// a server should check that a client is authorized to use its client identifier; an anonymous
// session (no verified identity) stays anyone's, as before.
import { MqttError, ReasonCode } from '../protocol/index.ts';
import type { Principal } from './hooks.ts';

/**
 * The identity a principal stands for, as stored with its session: `password:<user name>` (the
 * password file, by password or SCRAM), `jwt:<subject>`; undefined for an anonymous client.
 */
export function identityOf(principal: Principal | undefined): string | undefined {
  if (!principal || principal.method === 'anonymous') return undefined;
  const source = principal.method === 'scram' ? 'password' : principal.method;
  return `${source}:${principal.username ?? ''}`;
}

/** Whether a client of `identity` may use a session owned by `owner` (undefined: nobody's). */
export function sessionOwnerMatches(owner: string | undefined, identity: string | undefined): boolean {
  return owner === undefined || owner === identity;
}

/** Why a CONNECT was refused when its client id belongs to another identity. */
export const notOwnerMessage = 'client id belongs to another identity';

/** The refusal (0x87 Not authorized; 3.x return code 5). */
export function notOwner(): MqttError {
  return new MqttError(ReasonCode.NotAuthorized, notOwnerMessage);
}
