// The Worker routes: WebSocket upgrades on /mqtt, /mqtt/<namespace> and / go to the namespace's
// Durable Object (sharded: to one of its gateways, at random), and so do /api/* and /metrics once
// the admin gate lets them through; /api/cost asks every object of the namespace (as a tree, within
// the subrequest limit: cost.ts); a plain request on /mqtt gets a short text; everything else is
// the web console's static files.
import { admit, isAdminPath } from './api/gate.ts';
import { route } from './route.ts';
import { authConfigFromEnv, securityNotice } from './auth/config.ts';
import { ApiError, errorResponse, json } from './api/json.ts';
import { costOf } from './cost.ts';
import { rulesOnShards } from './api/rules-shards.ts';
import { isSharded, objectName, topologyFromEnv } from './topology.ts';

export { BrokerObject } from './broker-object.ts';
export { ShardObject } from './shard-object.ts';
export { SessionObject } from './session-object.ts';
export { BrokerRpc } from './rpc.ts';

/** A secret (wrangler secret put MQTT_ADMIN_TOKEN), so not in the generated Env. */
type Secrets = { MQTT_ADMIN_TOKEN?: string };

/** A random gateway, or the one `?gateway=<i>` pins (tests, and operators keeping a fleet together). */
function gatewayFor(url: URL, gateways: number): number {
  const pinned = Number(url.searchParams.get('gateway') ?? NaN);
  return Number.isInteger(pinned) && pinned >= 0 && pinned < gateways ? pinned : Math.floor(Math.random() * gateways);
}

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (isAdminPath(url.pathname)) {
      const admitted = await admit(request, (env as Env & Secrets).MQTT_ADMIN_TOKEN);
      if (admitted instanceof Response) return admitted;
      const topology = topologyFromEnv(env, admitted.namespace);
      if (url.pathname === '/api/cost' && request.method === 'GET') return json(await costOf(env, admitted.namespace, topology));
      if (!isSharded(topology)) return env.BROKER.getByName(admitted.namespace).fetch(request);
      // session object #0 holds a sharded namespace's user store
      if (/^\/api\/users(\/|$)/.test(url.pathname)) {
        return env.SESSION.getByName(objectName(admitted.namespace, 0)).fetch(request);
      }
      // each topic shard runs the rules for its topics
      if (/^\/api\/rules(\/|$)/.test(url.pathname)) return rulesOnShards(env, admitted.namespace, topology, request);
      // any gateway publishes through the namespace's shards; the other routes read one object's state
      if (url.pathname === '/api/publish') return env.BROKER.getByName(objectName(admitted.namespace, gatewayFor(url, topology.gateways))).fetch(request);
      return errorResponse(new ApiError(501, 'not-implemented', 'a sharded namespace serves /api/cost, /api/publish, /api/users and /api/rules only; its other admin routes need the default topology'));
    }
    const target = route(url);
    if (target && request.headers.get('Upgrade')?.toLowerCase() === 'websocket') {
      const topology = topologyFromEnv(env, target.namespace);
      const name = isSharded(topology) ? objectName(target.namespace, gatewayFor(url, topology.gateways)) : target.namespace;
      return env.BROKER.getByName(name).fetch(request);
    }
    if (!target || url.pathname === '/') return env.ASSETS.fetch(request);
    const notice = securityNotice(authConfigFromEnv(env, target.namespace));
    return new Response(`MQTT over WebSocket: connect an MQTT client to this URL (namespace "${target.namespace}").\n${notice ? `\n${notice}\n` : ''}`, {
      status: 426,
      headers: { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket' },
    });
  },
} satisfies ExportedHandler<Env>;
