// The admin door, in the Worker: /api/* and /metrics need `Authorization: Bearer <token>` when the
// MQTT_ADMIN_TOKEN secret is set (open, with a warning in the log, when it is not), and name their
// namespace with ?ns= (default "default").
import { namespacePattern } from '../route.ts';
import { ApiError, errorResponse } from './json.ts';

let warned = false;

export const isAdminPath = (path: string): boolean => path === '/metrics' || path === '/api' || path.startsWith('/api/');

/** Compares digests so the time taken says nothing about the token. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = (s: string) => crypto.subtle.digest('SHA-256', new TextEncoder().encode(s));
  const [x, y] = await Promise.all([digest(a), digest(b)]);
  return crypto.subtle.timingSafeEqual(x, y);
}

async function authorized(request: Request, token: string | undefined): Promise<boolean> {
  if (!token) {
    if (!warned) console.warn('MQTT_ADMIN_TOKEN is not set: /api and /metrics are open to anyone who can reach this Worker');
    warned = true;
    return true;
  }
  const offered = /^Bearer (.+)$/i.exec(request.headers.get('authorization') ?? '')?.[1];
  return offered !== undefined && (await sameSecret(offered, token));
}

/** The namespace an admin request is for, or the response refusing it. */
export async function admit(request: Request, token: string | undefined): Promise<{ namespace: string } | Response> {
  if (!(await authorized(request, token))) {
    return errorResponse(new ApiError(401, 'unauthorized', 'this API needs Authorization: Bearer <MQTT_ADMIN_TOKEN>'), {
      'www-authenticate': 'Bearer realm="edge-mqtt"',
    });
  }
  const namespace = new URL(request.url).searchParams.get('ns') ?? 'default';
  if (!namespacePattern.test(namespace)) return errorResponse(new ApiError(400, 'bad-request', 'ns must be 1 to 64 of A-Z a-z 0-9 _ -'));
  return { namespace };
}
