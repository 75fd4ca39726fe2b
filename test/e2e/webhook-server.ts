// A local HTTP server standing in for a webhook endpoint (127.0.0.1, a free port): records every
// request, answers with the status a test chooses, or holds the request unanswered ('hang').
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface Hook {
  path: string;
  headers: IncomingMessage['headers'];
  raw: Buffer;
  body: { rule: string; messages: Array<{ seq: number; topic: string; payload: string; value: unknown; clientId?: string; qos: number; userProperties?: [string, string][] }> };
}

export async function webhookServer() {
  const received: Hook[] = [];
  /** Every request's path, answered or not. */
  const requests: string[] = [];
  const hung: ServerResponse[] = [];
  let answer: (path: string) => number | 'hang' = () => 200;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      requests.push(req.url ?? '/');
      const how = answer(req.url ?? '/');
      if (how === 'hang') return void hung.push(res);
      if (how >= 200 && how < 300) received.push({ path: req.url ?? '/', headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) });
      res.writeHead(how).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    received,
    requests,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    /** How to answer from now on: a status, or 'hang' (never answer). */
    answer(how: (path: string) => number | 'hang') {
      answer = how;
    },
    /** Messages delivered (2xx) on a path, in arrival order. */
    messages(path: string) {
      return received.filter((r) => r.path === path).flatMap((r) => r.body.messages);
    },
    async waitFor(check: () => boolean, timeoutMs = 30_000, what = 'webhook deliveries'): Promise<void> {
      const until = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close(): Promise<void> {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export const hmac = (secret: string, body: Buffer) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
