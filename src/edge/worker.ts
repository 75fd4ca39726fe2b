// The Worker routes: WebSocket upgrades on /mqtt, /mqtt/<namespace> and / go to the namespace's
// Durable Object, and so do /api/* and /metrics once the admin gate lets them through; a plain
// request on /mqtt gets a short text; everything else is the web console's static files.
import { admit, isAdminPath } from './api/gate.ts';
import { route } from './route.ts';
import { authConfigFromEnv, securityNotice } from './auth/config.ts';

export { BrokerObject } from './broker-object.ts';

/** A secret (wrangler secret put MQTT_ADMIN_TOKEN), so not in the generated Env. */
type Secrets = { MQTT_ADMIN_TOKEN?: string };

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (isAdminPath(url.pathname)) {
      const admitted = await admit(request, (env as Env & Secrets).MQTT_ADMIN_TOKEN);
      return admitted instanceof Response ? admitted : env.BROKER.getByName(admitted.namespace).fetch(request);
    }
    const target = route(url);
    if (target && request.headers.get('Upgrade')?.toLowerCase() === 'websocket') return env.BROKER.getByName(target.namespace).fetch(request);
    if (!target || url.pathname === '/') return env.ASSETS.fetch(request);
    const notice = securityNotice(authConfigFromEnv(env, target.namespace));
    return new Response(`MQTT over WebSocket: connect an MQTT client to this URL (namespace "${target.namespace}").\n${notice ? `\n${notice}\n` : ''}`, {
      status: 426,
      headers: { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket' },
    });
  },
} satisfies ExportedHandler<Env>;
