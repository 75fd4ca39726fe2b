// A broker world whose hooks are the real Authenticator and AccessControl, on the world's clock.
import { createAuth, type AuthConfig, type JwksPorts } from '../../../src/broker/auth/index.ts';
import { World } from '../harness.ts';

export function authWorld(config: Partial<AuthConfig>, peer?: string, jwks?: JwksPorts): { w: World; auth: ReturnType<typeof createAuth>; logs: string[] } {
  const logs: string[] = [];
  let w: World | undefined;
  const auth = createAuth({ namespace: 'default', allowAnonymous: false, ...config }, { now: () => w!.clock.now() }, (l, m) => void logs.push(`${l}: ${m}`), jwks);
  w = new World({ hooks: auth.hooks, peer });
  return { w, auth, logs };
}
