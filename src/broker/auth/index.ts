// Authentication and authorization as broker hooks, built from one configuration.
import type { Hooks } from '../hooks.ts';
import type { Clock } from '../ports.ts';
import { parseAclFile } from './acl.ts';
import { AccessControl } from './access-control.ts';
import { Authenticator, type AuthenticatorConfig, type JwksPorts } from './authenticator.ts';

export interface AuthConfig extends AuthenticatorConfig {
  /** Contents of the ACL file (mosquitto acl_file syntax). */
  aclFile?: string;
}

export interface Auth {
  authenticator: Authenticator;
  access: AccessControl;
  /** Authentication first, then the ACL checks, in the broker's hook order. */
  hooks: Partial<Hooks>[];
}

/** Throws on a malformed password file, ACL file or JWKS: a broken config fails loudly. `jwks` serves a JWKS URL. */
export function createAuth(config: AuthConfig, clock: Clock, log?: ConstructorParameters<typeof Authenticator>[2], jwks?: JwksPorts): Auth {
  const authenticator = new Authenticator(config, clock, log, jwks);
  const access = new AccessControl(config.aclFile === undefined ? undefined : parseAclFile(config.aclFile));
  // without an ACL file, tokens or a user store (which may carry rules) every topic is open: the
  // broker then skips the per-message checks altogether
  const acl = config.aclFile !== undefined || config.jwt !== undefined || config.users !== undefined;
  return { authenticator, access, hooks: acl ? [authenticator, access] : [authenticator] };
}

export { hashPassword, parsePasswordFile, verifyPassword, parseHash, defaultIterations, maxIterations, minIterations } from './password.ts';
export { parseAclFile, parseRule, type AclFile, type AclRule, type Access } from './acl.ts';
export { JwtVerifier, looksLikeJwt, type JwtConfig, type Claims } from './jwt.ts';
export { LoginGuard, type LoginGuardConfig } from './login-guard.ts';
export { Authenticator, type AuthenticatorConfig, type JwksPorts } from './authenticator.ts';
export { RemoteJwks, defaultJwksMaxAge, maxJwksMaxAge } from './jwks.ts';
export { AccessControl } from './access-control.ts';
export {
  CachedDirectory, checkUsername, parseAclRules, toStoredUser, maxAclBytes, type StoredUser, type UserDirectory, type UserRecord,
} from './users.ts';
