// A request body over the server's limit, sent the two ways a real HTTP client sends one. A server
// that refuses a body from its Content-Length answers without reading it and closes the connection;
// a client still writing then sees the connection reset and may lose that answer (RFC 9112 §9.6,
// "tear-down"). So the answer itself is checked where it cannot be lost, with only the headers sent,
// and the whole body is checked to be refused either way, never taken.
import { request, type ClientRequest } from 'node:http';

export interface Answer {
  status: number;
  body: unknown;
}

/**
 * Sends only the headers of a request announcing `contentLength` bytes (none of them sent) and
 * resolves with the answer, parsed as JSON; rejects when none comes within `timeoutMs` (a server
 * waiting for the body has not refused it) or on any socket error.
 */
export function answerToHeaders(url: string, method: string, headers: Record<string, string>, contentLength: number, timeoutMs = 20_000): Promise<Answer> {
  const req = request(url, { method, headers: { ...headers, 'content-length': String(contentLength) }, agent: false });
  const answer = answerOf(req, timeoutMs, `no answer to the headers of a ${contentLength}-byte body within ${timeoutMs} ms`, () => false);
  req.flushHeaders();
  return answer as Promise<Answer>;
}

/** The socket errors of a connection the server closed while the client was still sending. */
const closedWhileSending = new Set(['EPIPE', 'ECONNRESET']);

/**
 * Sends the whole request on a connection of its own (never a pooled one: the server closes it,
 * and a pool that reused it would fail the next request), and resolves with the answer (body
 * parsed as JSON), or with 'closed' when the server closed the connection before the body was all
 * sent. Any other failure rejects, as does no answer within `timeoutMs`.
 */
export function sendWhole(url: string, init: { method: string; headers: Record<string, string>; body: string }, timeoutMs = 20_000): Promise<Answer | 'closed'> {
  const body = Buffer.from(init.body);
  const req = request(url, { method: init.method, headers: { ...init.headers, 'content-length': String(body.length) }, agent: false });
  const answer = answerOf(req, timeoutMs, `no answer to a ${body.length}-byte body within ${timeoutMs} ms`, (err) => !!err.code && closedWhileSending.has(err.code));
  req.end(body);
  return answer;
}

/** A request's answer, its body parsed as JSON; 'closed' for a socket error `closed` accepts. */
function answerOf(req: ClientRequest, timeoutMs: number, late: string, closed: (err: NodeJS.ErrnoException) => boolean): Promise<Answer | 'closed'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(late));
    }, timeoutMs);
    req.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (closed(err)) resolve('closed');
      else reject(err);
    });
    req.once('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.once('end', () => {
        clearTimeout(timer);
        req.destroy();
        try {
          resolve({ status: res.statusCode!, body: JSON.parse(text) });
        } catch (err) {
          reject(err);
        }
      });
    });
  });
}
