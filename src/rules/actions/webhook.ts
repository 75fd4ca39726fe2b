// The webhook action: a batch of matched messages POSTed as JSON to an HTTP endpoint.
// `{"kind": "webhook", "url": "https://…", "secretEnv": "RULES_WEBHOOK_SECRET", "timeoutMs":
// 10000, "batch": {"messages": 100, "bytes": 1048576}, "headers": {"x-api-key": "…"}}`.
// The body is `{"rule", "messages": [...]}`; with `secretEnv`, the header `X-Signature-256:
// sha256=<hex>` is the HMAC-SHA256 of the body under that env var's value (a secret). A 2xx
// answer is delivered; anything else, a timeout or a network error fails the batch, which the
// engine retries with backoff. Redirects are not followed (they fail the batch).
import type { ActionKind } from '../action.ts';
import { messageRecord } from './fields.ts';
import { drainBounds } from '../limits.ts';

export interface WebhookConfig {
  url: string;
  secretEnv?: string;
  timeoutMs: number;
  batch: { messages: number; bytes: number };
  headers: Record<string, string>;
}

const fields = new Set(['kind', 'url', 'secretEnv', 'timeoutMs', 'batch', 'headers']);
export const signatureHeader = 'x-signature-256';
const reserved = new Set(['content-type', 'content-length', signatureHeader, 'x-rule']);
const maxBatchBytes = 4 * 1024 * 1024;

function whole(v: unknown, name: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new Error(`${name} must be a whole number from ${min} to ${max}`);
  return v;
}

const hex = (bytes: ArrayBuffer) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');

export async function sign(secret: string, body: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return `sha256=${hex(await crypto.subtle.sign('HMAC', key, body))}`;
}

export const webhook: ActionKind<WebhookConfig> = {
  kind: 'webhook',

  parse(config, env) {
    const unknown = Object.keys(config).find((k) => !fields.has(k));
    if (unknown) throw new Error(`unknown field ${unknown} (fields: ${[...fields].join(', ')})`);
    let url: URL;
    try {
      url = new URL(String(config.url));
    } catch {
      throw new Error('url must be an absolute http:// or https:// URL');
    }
    if (typeof config.url !== 'string' || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw new Error('url must be an absolute http:// or https:// URL');
    const { secretEnv } = config;
    if (secretEnv !== undefined) {
      if (typeof secretEnv !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(secretEnv)) throw new Error('secretEnv must name an environment variable');
      if (typeof env[secretEnv] !== 'string' || env[secretEnv] === '') throw new Error(`secretEnv: ${secretEnv} is not set (wrangler secret put ${secretEnv})`);
    }
    const batch = (config.batch ?? {}) as Record<string, unknown>;
    if (typeof batch !== 'object' || batch === null || Array.isArray(batch)) throw new Error('batch must be {"messages", "bytes"}');
    const headers = (config.headers ?? {}) as Record<string, unknown>;
    if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw new Error('headers must be an object of strings');
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(name)) throw new Error(`headers.${name} must be a string under a header name`);
      if (reserved.has(name.toLowerCase())) throw new Error(`headers.${name} is set by the broker`);
    }
    return {
      url: url.href, secretEnv: secretEnv as string | undefined, headers: headers as Record<string, string>,
      timeoutMs: whole(config.timeoutMs, 'timeoutMs', 100, drainBounds.deliverDeadlineMs, 10_000),
      batch: { messages: whole(batch.messages, 'batch.messages', 1, 1000, 100), bytes: whole(batch.bytes, 'batch.bytes', 1024, maxBatchBytes, 1024 * 1024) },
    };
  },

  limits: (config) => ({ count: config.batch.messages, bytes: config.batch.bytes }),

  async deliver(config, batch, context) {
    const body = new TextEncoder().encode(JSON.stringify({ rule: context.rule, messages: batch.map(messageRecord) }));
    const headers: Record<string, string> = { ...config.headers, 'content-type': 'application/json', 'x-rule': context.rule };
    if (config.secretEnv) headers[signatureHeader] = await sign(String(context.env[config.secretEnv]), body);
    const response = await context.fetch(config.url, {
      method: 'POST', body, headers, redirect: 'manual', signal: AbortSignal.timeout(config.timeoutMs),
    });
    await response.body?.cancel();
    if (response.status < 200 || response.status > 299) throw new Error(`${config.url} answered HTTP ${response.status}`);
  },
};
