// One namespace's broker: holds client WebSockets with the Hibernation API and translates
// runtime events (message, close, error, alarm) into broker calls. No MQTT rule lives here.
import { DurableObject } from 'cloudflare:workers';
import { chooseSubprotocol } from './route.ts';

export class BrokerObject extends DurableObject<Env> {
  override async fetch(request: Request): Promise<Response> {
    const protocol = chooseSubprotocol(request.headers.get('Sec-WebSocket-Protocol'));
    if (protocol === undefined) return new Response('Unsupported WebSocket subprotocol\n', { status: 400 });
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    const headers = protocol ? { 'Sec-WebSocket-Protocol': protocol } : undefined;
    return new Response(null, { status: 101, webSocket: pair[0], headers });
  }

  override async webSocketMessage(ws: WebSocket, message: ArrayBuffer | string): Promise<void> {
    void ws;
    void message;
  }
}
