// A request body over the server's limit, sent the two ways a real HTTP client sends one. A server
// that refuses a body from its Content-Length answers without reading it and closes the connection;
// a client still writing then sees the connection reset and may lose that answer (RFC 9112 §9.6,
// "tear-down"). So the answer itself is checked where it cannot be lost, with only the headers sent,
// and the whole body is checked to be refused either way, never taken.
import { request } from 'node:http';

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
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, 'content-length': String(contentLength) } });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to the headers of a ${contentLength}-byte body within ${timeoutMs} ms`));
    }, timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
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
    req.flushHeaders();
  });
}

/** The socket errors of a connection the server closed while the client was still sending. */
const closedWhileSending = new Set(['UND_ERR_SOCKET', 'EPIPE', 'ECONNRESET']);

/**
 * Sends the whole request with fetch; resolves with the answer (body parsed as JSON), or with
 * 'closed' when the server closed the connection before the body was all sent. Any other failure
 * rejects.
 */
export async function sendWhole(url: string, init: RequestInit): Promise<Answer | 'closed'> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (code && closedWhileSending.has(code)) return 'closed';
    throw err;
  }
  return { status: res.status, body: await res.json() };
}
