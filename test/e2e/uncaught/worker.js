// Throws from the Worker's fetch (/throw) and from a Durable Object's webSocketMessage (any
// WebSocket); answers /mqtt with 426, which is what test/e2e/server.ts waits for.
import { DurableObject } from 'cloudflare:workers';

export class Thrower extends DurableObject {
  async fetch() {
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  webSocketMessage(_ws, message) {
    throw new Error(`thrown in webSocketMessage: ${message}`);
  }
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === '/mqtt') return new Response('upgrade required', { status: 426 });
    if (pathname === '/throw') throw new Error('thrown in fetch');
    return env.THROWER.get(env.THROWER.idFromName('one')).fetch(request);
  },
};
