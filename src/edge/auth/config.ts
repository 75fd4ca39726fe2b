// Authentication settings from wrangler vars and secrets. Each may be set for one namespace by
// suffixing `__<namespace>` (MQTT_ACL_FILE__plant-a), which wins over the plain name.
// Secrets (password file, JWT secret) belong in `wrangler secret put`, never in wrangler.toml.
import type { AuthConfig } from '../../broker/auth/index.ts';

export const authVariables = {
  allowAnonymous: 'MQTT_ALLOW_ANONYMOUS',
  passwordFile: 'MQTT_PASSWORD_FILE',
  aclFile: 'MQTT_ACL_FILE',
  jwtSecret: 'MQTT_JWT_SECRET',
  jwtPublicKeys: 'MQTT_JWT_PUBLIC_KEYS',
  jwtJwks: 'MQTT_JWT_JWKS',
  jwtJwksUrl: 'MQTT_JWT_JWKS_URL',
  jwtJwksRefreshInterval: 'MQTT_JWT_JWKS_REFRESH_INTERVAL',
  /** Tests only: lets MQTT_JWT_JWKS_URL be plain http:// on a loopback host (a local JWKS server). */
  testJwksHttp: 'MQTT_TEST_JWKS_ALLOW_HTTP',
  jwtIssuer: 'MQTT_JWT_ISSUER',
  jwtAudience: 'MQTT_JWT_AUDIENCE',
  jwtLeeway: 'MQTT_JWT_LEEWAY',
  enhancedAuth: 'MQTT_ENHANCED_AUTH',
  loginFreeFailures: 'MQTT_LOGIN_FREE_FAILURES',
  loginFreeAddressFailures: 'MQTT_LOGIN_FREE_ADDRESS_FAILURES',
  loginBackoff: 'MQTT_LOGIN_BACKOFF',
  maxLoginBackoff: 'MQTT_MAX_LOGIN_BACKOFF',
} as const;

type Reader = (name: string) => string | undefined;

function reader(env: object, namespace: string): Reader {
  const vars = env as Record<string, unknown>;
  return (name) => {
    const value = vars[`${name}__${namespace}`] ?? vars[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
}

function flag(read: Reader, name: string): boolean {
  const raw = read(name)?.toLowerCase();
  if (raw === undefined || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new Error(`${name} must be true or false, got ${raw}`);
}

function count(read: Reader, name: string): number | undefined {
  const raw = read(name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got ${raw}`);
  return value;
}

const loopbackHosts = ['127.0.0.1', 'localhost', '[::1]'];

/** The JWKS URL: https only, but for plain http on a loopback host where the tests allow it. */
function jwksUrl(read: Reader): string | undefined {
  const name = authVariables.jwtJwksUrl;
  const raw = read(name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name} is not a URL: ${raw}`);
  }
  if (url.protocol === 'https:') return url.href;
  if (url.protocol === 'http:' && loopbackHosts.includes(url.hostname) && flag(read, authVariables.testJwksHttp)) return url.href;
  throw new Error(`${name} must be an https:// URL, got ${raw}: keys fetched in clear could be replaced on the way ` +
    '(plain http is for tests only, on 127.0.0.1)');
}

/** The namespace's authentication config; throws on a malformed value. Anonymous is off unless set. */
export function authConfigFromEnv(env: object, namespace: string): AuthConfig {
  const read = reader(env, namespace);
  const v = authVariables;
  const jwt = {
    secret: read(v.jwtSecret), publicKeys: read(v.jwtPublicKeys), jwks: read(v.jwtJwks),
    jwksUrl: jwksUrl(read), jwksRefreshInterval: count(read, v.jwtJwksRefreshInterval),
    issuer: read(v.jwtIssuer), audience: read(v.jwtAudience), leeway: count(read, v.jwtLeeway),
  };
  const loginGuard = {
    freeFailures: count(read, v.loginFreeFailures), freeAddressFailures: count(read, v.loginFreeAddressFailures), backoff: count(read, v.loginBackoff), maxBackoff: count(read, v.maxLoginBackoff),
  };
  return {
    namespace,
    allowAnonymous: flag(read, v.allowAnonymous),
    passwordFile: read(v.passwordFile),
    aclFile: read(v.aclFile),
    jwt: jwt.secret || jwt.publicKeys || jwt.jwks || jwt.jwksUrl ? jwt : undefined,
    enhancedAuth: read(v.enhancedAuth)?.split(',').map((m) => m.trim()).filter(Boolean),
    loginGuard: Object.fromEntries(Object.entries(loginGuard).filter(([, value]) => value !== undefined)),
  };
}

/** What the plain GET and the startup log say about access, when it is worth saying. */
export function securityNotice(config: AuthConfig): string | undefined {
  if (config.allowAnonymous) {
    return `WARNING: namespace "${config.namespace}" accepts anonymous clients: anyone who knows this URL can publish and subscribe. ` +
      `Set ${authVariables.allowAnonymous}=false and configure ${authVariables.passwordFile} or JWT keys before exposing it.`;
  }
  if (!config.passwordFile && !config.jwt) {
    const keys = `${authVariables.jwtSecret}/${authVariables.jwtPublicKeys}/${authVariables.jwtJwks}/${authVariables.jwtJwksUrl}`;
    return `Namespace "${config.namespace}" has no password file or JWT keys and refuses anonymous clients: ` +
      'every client is refused except users of its user store (/api/users, npm run passwd -- --url). ' +
      `Configure ${authVariables.passwordFile} or ${keys}, or add users.`;
  }
  return undefined;
}

const said = new Set<string>();

/**
 * The notice for the log when a namespace's object starts, once per Worker instance for each
 * setting that causes it: once for the plain variables (which every namespace without settings of
 * its own shares), once for each namespace with its own. Undefined when already said or nothing to say.
 */
export function startupNotice(env: object, config: AuthConfig): string | undefined {
  const notice = securityNotice(config);
  if (!notice) return undefined;
  const own = Object.values(authVariables).some((name) => `${name}__${config.namespace}` in env);
  const key = `${own ? `namespace ${config.namespace}` : 'plain variables'}: ${notice.slice(0, 12)}`;
  if (said.has(key)) return undefined;
  said.add(key);
  return own ? notice : `${notice} The same holds for every namespace without settings of its own (said once per Worker instance).`;
}
