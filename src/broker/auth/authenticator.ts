// The authentication hook: anonymous clients where allowed, user name and password against the
// password file and then the user store, JWTs (in the password, or as the user name with no
// password) against the configured keys or an identity provider's JWKS URL. Failures are counted
// and slowed by the LoginGuard; clients learn only "bad user name or password", "not authorized"
// or (no JWKS could be fetched yet) "server unavailable", the log learns why.
import { MqttError, ReasonCode, type ConnectPacket } from '../../protocol/index.ts';
import type { AuthExchange, ClientInfo, Hooks, Principal } from '../hooks.ts';
import type { Clock, JwksFetch, JwksStore } from '../ports.ts';
import { parseRule, type AclRule } from './acl.ts';
import { RemoteJwks } from './jwks.ts';
import { looksLikeJwt, JwtVerifier, type Claims, type JwtConfig } from './jwt.ts';
import { addressKey, LoginGuard, type LoginGuardConfig } from './login-guard.ts';
import { defaultIterations, parsePasswordFile, verifyPassword, type PasswordHash } from './password.ts';
import { ScramExchange, scramMethod } from './scram.ts';
import type { StoredUser, UserDirectory } from './users.ts';

export interface AuthenticatorConfig {
  /** The namespace this broker serves; a token naming others is refused. */
  namespace: string;
  allowAnonymous: boolean;
  /** Contents of the password file. */
  passwordFile?: string;
  /** The user store: asked for user names the password file does not hold. */
  users?: UserDirectory;
  jwt?: JwtConfig;
  /** v5 enhanced authentication methods offered: SCRAM-SHA-256, over the password file and user store. */
  enhancedAuth?: string[];
  loginGuard?: Partial<LoginGuardConfig>;
}

/** What a JWKS URL needs from the host: the fetch, and a store for the last good key set. */
export interface JwksPorts {
  fetch: JwksFetch;
  store?: JwksStore;
  /** Told of every fetch and whether it brought a key set. */
  onFetch?: (ok: boolean) => void;
}

/** Largest token `acl` claim kept (it travels in the hibernation attachment). */
const maxTokenAcl = 2048;
/** Least time between two fetches of a JWKS URL, unless configured (s). */
const defaultJwksRefreshInterval = 30;

type Log = (level: 'info' | 'warn' | 'error', message: string) => void;

export class Authenticator implements Pick<Hooks, 'authenticate' | 'startAuth'> {
  readonly guard: LoginGuard;
  private readonly config: AuthenticatorConfig;
  private readonly passwords?: Map<string, PasswordHash>;
  /** Checked when the user name is unknown, so that timing does not tell users apart. */
  private readonly decoy: PasswordHash;
  private readonly jwt?: JwtVerifier;
  private readonly clock: Clock;
  private readonly log: Log;
  private lastWarning = -Infinity;
  private suppressed = 0;

  constructor(config: AuthenticatorConfig, clock: Clock, log: Log = () => {}, jwks?: JwksPorts) {
    this.config = config;
    this.clock = clock;
    this.log = log;
    this.guard = new LoginGuard(config.loginGuard);
    if (config.passwordFile !== undefined) this.passwords = parsePasswordFile(config.passwordFile);
    const iterations = this.passwords?.values().next().value?.iterations ?? defaultIterations;
    this.decoy = { iterations, salt: new Uint8Array(16), hash: new Uint8Array(32) };
    if (config.jwt) this.jwt = new JwtVerifier(config.jwt, remoteJwks(config.jwt, clock, log, jwks));
    for (const method of config.enhancedAuth ?? []) {
      if (method !== scramMethod) throw new MqttError(ReasonCode.ImplementationSpecificError, `enhanced authentication ${method} is not supported`);
      if (!this.passwords && !config.users) {
        throw new MqttError(ReasonCode.ImplementationSpecificError, `${scramMethod} needs a password file or a user store`);
      }
    }
  }

  /** SCRAM-SHA-256 where configured, counted and slowed like any login. */
  startAuth(client: ClientInfo, method: string): AuthExchange | undefined {
    if (method !== scramMethod || !this.config.enhancedAuth?.includes(method)) return undefined;
    let found: StoredUser | undefined;
    const scram = new ScramExchange(async (user) => (found = await this.findUser(user))?.hash, this.decoy);
    return {
      step: (data) => this.guarded(client, scram.username, async () => {
        const step = await scram.step(data);
        if ('principal' in step && found?.acl) step.principal.acl = found.acl;
        return step;
      }),
    };
  }

  authenticate(client: ClientInfo, connect: ConnectPacket): Promise<Principal> {
    const username = looksLikeJwt(connect.username) ? undefined : connect.username;
    return this.guarded(client, username, () => this.identify(client, connect, this.clock.now())) as Promise<Principal>;
  }

  /** Runs a login step under the guard: refused unchecked while backing off, counted when it fails. */
  private async guarded<T>(client: ClientInfo, username: string | undefined, attempt: () => Promise<T>): Promise<T> {
    const now = this.clock.now();
    const keys = guardKeys(client, username);
    const wait = this.guard.retryAfter(keys, now);
    if (wait > 0) {
      this.warn(now, `login throttled: client ${client.clientId} from ${client.peer ?? 'unknown'}`);
      throw new MqttError(ReasonCode.ConnectionRateExceeded, `too many failed logins: retry in ${Math.ceil(wait / 1000)} s`);
    }
    try {
      const result = await attempt();
      if (result && typeof result === 'object' && !('challenge' in result)) this.guard.succeeded(keys);
      return result;
    } catch (err) {
      if (!(err instanceof MqttError)) throw err;
      // an identity provider that cannot be reached is not the client's failure
      if (err.reasonCode !== ReasonCode.ServerUnavailable) this.guard.failed(keys, now);
      this.warn(now, `login failed: client ${client.clientId} from ${client.peer ?? 'unknown'}: ${err.message}`);
      throw new MqttError(err.reasonCode, clientReasons[err.reasonCode] ?? 'bad user name or password');
    }
  }

  private async identify(client: ClientInfo, connect: ConnectPacket, now: number): Promise<Principal> {
    const password = connect.password && new TextDecoder().decode(connect.password);
    const token = looksLikeJwt(password) ? password : !password && looksLikeJwt(connect.username) ? connect.username : undefined;
    if (token && this.jwt) return this.fromToken(client, await this.jwt.verify(token, now));
    const username = connect.username;
    const user = username === undefined ? undefined : await this.findUser(username);
    if (username !== undefined && (user || this.passwords)) return this.fromPassword(username, password, user);
    const anonymous = connect.username === undefined && connect.password === undefined;
    // a user name neither the file nor the store holds is no credential where anonymous clients may connect
    if (this.config.allowAnonymous && (anonymous || !this.checksCredentials())) return { method: 'anonymous' };
    if (anonymous) throw new MqttError(ReasonCode.NotAuthorized, 'anonymous clients are not allowed');
    if (username !== undefined && this.config.users) return this.fromPassword(username, password, undefined);
    throw new MqttError(ReasonCode.BadUserNameOrPassword, 'credentials no configured method can check');
  }

  /** At most one line a second: an attack must not flood the log; the rest are counted in the next. */
  private warn(now: number, message: string): void {
    if (now - this.lastWarning < 1000) return void this.suppressed++;
    const more = this.suppressed ? ` (and ${this.suppressed} more since the last line)` : '';
    this.log('warn', `${message}${more}`);
    [this.lastWarning, this.suppressed] = [now, 0];
  }

  private checksCredentials(): boolean {
    return this.passwords !== undefined || this.jwt !== undefined;
  }

  /** The password file's entry, else the user store's. */
  private async findUser(username: string): Promise<StoredUser | undefined> {
    const entry = this.passwords?.get(username);
    return entry ? { hash: entry } : this.config.users?.lookup(username);
  }

  /** An unknown user is checked against the decoy too, so that timing does not tell users apart. */
  private async fromPassword(username: string, password: string | undefined, user?: StoredUser): Promise<Principal> {
    const ok = await verifyPassword(password ?? '', user?.hash ?? this.decoy);
    if (!user || !ok) {
      throw new MqttError(ReasonCode.BadUserNameOrPassword, user ? 'wrong password' : `unknown user ${username}`);
    }
    return user.acl ? { method: 'password', username, acl: user.acl } : { method: 'password', username };
  }

  private fromToken(client: ClientInfo, claims: Claims): Principal {
    const ns = claims.namespace;
    if (ns !== undefined && !(Array.isArray(ns) ? ns : [ns]).includes(this.config.namespace)) {
      throw new MqttError(ReasonCode.NotAuthorized, `token is not for namespace ${this.config.namespace}`);
    }
    if (claims.client_id !== undefined && claims.client_id !== client.clientId) {
      throw new MqttError(ReasonCode.ClientIdentifierNotValid, `token is for client id ${String(claims.client_id)}`);
    }
    const principal: Principal = { method: 'jwt' };
    if (typeof claims.sub === 'string') principal.username = claims.sub;
    if (claims.acl !== undefined) principal.acl = tokenAcl(claims.acl);
    return principal;
  }
}

const clientReasons: Partial<Record<number, string>> = {
  [ReasonCode.NotAuthorized]: 'not authorized', [ReasonCode.ServerUnavailable]: 'server unavailable',
};

function remoteJwks(config: JwtConfig, clock: Clock, log: Log, ports: JwksPorts | undefined): RemoteJwks | undefined {
  if (config.jwksUrl === undefined) return undefined;
  if (!ports) throw new MqttError(ReasonCode.ImplementationSpecificError, 'JWT configuration: a JWKS URL needs a fetch port');
  const refreshInterval = (config.jwksRefreshInterval ?? defaultJwksRefreshInterval) * 1000;
  return new RemoteJwks({ url: config.jwksUrl, clock, refreshInterval, log, ...ports });
}

/** The `acl` claim: an array of acl_file rules ("read a/#", "readwrite devices/%c/#", "deny x"). */
function tokenAcl(claim: unknown): AclRule[] {
  const rules = Array.isArray(claim) && claim.every((r) => typeof r === 'string') ? claim : undefined;
  if (!rules) throw new MqttError(ReasonCode.NotAuthorized, 'token acl claim is not an array of rules');
  if (JSON.stringify(rules).length > maxTokenAcl) throw new MqttError(ReasonCode.NotAuthorized, 'token acl claim too large');
  try {
    return rules.map(parseRule);
  } catch (err) {
    throw new MqttError(ReasonCode.NotAuthorized, `token acl claim: ${(err as Error).message}`);
  }
}

/** What a failure is counted against: the client id, the address, the user name. */
function guardKeys(client: ClientInfo, username: string | undefined): string[] {
  const keys = [`id:${client.clientId}`];
  if (client.peer) keys.push(addressKey(client.peer));
  if (username) keys.push(`user:${username}`);
  return keys;
}
