// The Worker routes: WebSocket upgrades on /mqtt, /mqtt/<namespace> and / go to the namespace's
// Durable Object; everything else is answered here.
import { route } from './route.ts';
import { authConfigFromEnv, securityNotice } from './auth/config.ts';

export { BrokerObject } from './broker-object.ts';

export default {
  async fetch(request, env): Promise<Response> {
    const target = route(new URL(request.url));
    if (!target) return new Response('Not found\n', { status: 404 });
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') {
      const notice = securityNotice(authConfigFromEnv(env, target.namespace));
      return new Response(`MQTT over WebSocket: connect an MQTT client to this URL (namespace "${target.namespace}").\n${notice ? `\n${notice}\n` : ''}`, {
        status: 426,
        headers: { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket' },
      });
    }
    return env.BROKER.getByName(target.namespace).fetch(request);
  },
} satisfies ExportedHandler<Env>;
