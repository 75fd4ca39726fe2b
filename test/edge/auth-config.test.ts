// Reading the authentication settings from vars and secrets.
import { describe, expect, it } from 'vitest';
import { authConfigFromEnv, securityNotice, startupNotice } from '../../src/edge/auth/config.ts';

describe('auth settings from the environment', () => {
  it('refuses anonymous clients unless MQTT_ALLOW_ANONYMOUS says true', () => {
    expect(authConfigFromEnv({}, 'default').allowAnonymous).toBe(false);
    expect(authConfigFromEnv({ MQTT_ALLOW_ANONYMOUS: 'true' }, 'default').allowAnonymous).toBe(true);
    expect(authConfigFromEnv({ MQTT_ALLOW_ANONYMOUS: '0' }, 'default').allowAnonymous).toBe(false);
    expect(() => authConfigFromEnv({ MQTT_ALLOW_ANONYMOUS: 'yes' }, 'default')).toThrow(/true or false/);
  });

  it('lets NAME__<namespace> win over NAME in that namespace only', () => {
    const env = { MQTT_ALLOW_ANONYMOUS: 'true', 'MQTT_ALLOW_ANONYMOUS__plant-a': 'false', MQTT_ACL_FILE__x: 'topic a' };
    expect(authConfigFromEnv(env, 'plant-a').allowAnonymous).toBe(false);
    expect(authConfigFromEnv(env, 'plant-b').allowAnonymous).toBe(true);
    expect([authConfigFromEnv(env, 'x').aclFile, authConfigFromEnv(env, 'y').aclFile]).toEqual(['topic a', undefined]);
  });

  it('reads JWT keys, SCRAM and the login backoff, and refuses malformed numbers', () => {
    const config = authConfigFromEnv({
      MQTT_JWT_SECRET: 's', MQTT_JWT_LEEWAY: '5', MQTT_ENHANCED_AUTH: ' SCRAM-SHA-256 ', MQTT_LOGIN_BACKOFF: '2000',
    }, 'default');
    expect(config.jwt).toMatchObject({ secret: 's', leeway: 5 });
    expect(config.enhancedAuth).toEqual(['SCRAM-SHA-256']);
    expect(config.loginGuard).toEqual({ backoff: 2000 });
    expect(authConfigFromEnv({ MQTT_JWT_ISSUER: 'me' }, 'default').jwt).toBeUndefined(); // no key, no JWT
    expect(() => authConfigFromEnv({ MQTT_LOGIN_BACKOFF: '1s' }, 'default')).toThrow(/whole number/);
  });

  it('warns where anonymous clients are let in, and says when every client is refused', () => {
    expect(securityNotice(authConfigFromEnv({ MQTT_ALLOW_ANONYMOUS: 'true' }, 'n'))).toMatch(/^WARNING: namespace "n" accepts anonymous/);
    expect(securityNotice(authConfigFromEnv({}, 'n'))).toMatch(/every client is refused/);
    expect(securityNotice(authConfigFromEnv({ MQTT_PASSWORD_FILE: 'a:b' }, 'n'))).toBeUndefined();
  });

  it('logs the notice once per Worker instance for the plain variables, and once for each namespace with its own', () => {
    const env = { MQTT_ALLOW_ANONYMOUS: 'true', MQTT_ALLOW_ANONYMOUS__own: 'true', MQTT_PASSWORD_FILE__closed: 'a:b' };
    const first = startupNotice(env, authConfigFromEnv(env, 'once-a'));
    expect(first).toMatch(/^WARNING: namespace "once-a" accepts anonymous clients.* every namespace without settings of its own/);
    expect(startupNotice(env, authConfigFromEnv(env, 'once-a'))).toBeUndefined(); // the object again, after eviction
    expect(startupNotice(env, authConfigFromEnv(env, 'once-b'))).toBeUndefined(); // another namespace, same variables
    expect(startupNotice(env, authConfigFromEnv(env, 'own'))).toMatch(/^WARNING: namespace "own" accepts anonymous clients/);
    expect(startupNotice(env, authConfigFromEnv(env, 'own'))).toBeUndefined();
    expect(startupNotice(env, authConfigFromEnv(env, 'closed'))).toMatch(/^WARNING: namespace "closed" accepts/); // settings of its own: its own notice
  });
});
