// Credential injection: devices that cannot hold secrets connect without them and the agent
// writes the configured user name, password or token into their CONNECT on the way out.
import type { ConnectPacket } from './codec.ts';

export interface Credentials {
  username?: string;
  password?: string;
  /** A bearer token, carried in the password field (user name `token` unless one is given). */
  token?: string;
}

export const hasCredentials = (c: Credentials): boolean => c.username !== undefined || c.password !== undefined || c.token !== undefined;

export function injectCredentials(connect: ConnectPacket, c: Credentials): ConnectPacket {
  const out: ConnectPacket = { ...connect };
  const password = c.token ?? c.password;
  if (c.username !== undefined) out.username = c.username;
  else if (c.token !== undefined && out.username === undefined) out.username = 'token';
  if (password !== undefined) {
    out.password = new TextEncoder().encode(password);
    // Before MQTT 5 a password needs a user name [MQTT-3.1.2-22].
    if (out.username === undefined && out.protocolVersion < 5) out.username = '';
  }
  return out;
}
