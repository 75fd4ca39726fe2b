// The runtime's ceiling for the benchmark: a Durable Object that relays WebSocket frames and does
// nothing else. Sockets opened with ?role=sink receive every frame the sources send (what they
// send is received and dropped); a socket opened with ?role=peer gets its own frames back (one
// frame in, one out, like CONNECT/CONNACK).
import { DurableObject } from 'cloudflare:workers';

interface EchoEnv {
  ECHO: DurableObjectNamespace<EchoObject>;
}

export class EchoObject extends DurableObject<EchoEnv> {
  /** The sink sockets, looked up once rather than per frame. */
  private sinks?: WebSocket[];
  private readonly roles = new WeakMap<WebSocket, string>();

  override async fetch(request: Request): Promise<Response> {
    this.sinks = undefined;
    const pair = new WebSocketPair();
    const role = new URL(request.url).searchParams.get('role') ?? 'source';
    this.ctx.acceptWebSocket(pair[1], [role]);
    const protocol = request.headers.get('Sec-WebSocket-Protocol')?.split(',')[0]?.trim();
    return new Response(null, { status: 101, webSocket: pair[0], headers: protocol ? { 'Sec-WebSocket-Protocol': protocol } : {} });
  }

  override webSocketMessage(ws: WebSocket, message: ArrayBuffer | string): void {
    let role = this.roles.get(ws);
    if (role === undefined) this.roles.set(ws, (role = this.ctx.getTags(ws)[0]));
    if (role === 'peer') return ws.send(message);
    if (role === 'sink') return; // a sink's acknowledgements (QoS 1 fan-out) end here, as a broker's PUBACKs do
    this.sinks ??= this.ctx.getWebSockets('sink');
    for (const sink of this.sinks) sink.send(message);
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    this.sinks = undefined;
    ws.close(code === 1005 ? 1000 : code, 'closed');
  }
}

export default {
  async fetch(request: Request, env: EchoEnv): Promise<Response> {
    if (request.headers.get('Upgrade')?.toLowerCase() !== 'websocket') return new Response('echo\n', { status: 426 });
    return env.ECHO.getByName('echo').fetch(request);
  },
};
