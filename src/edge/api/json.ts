// JSON responses of the HTTP API, and the one translation of an error into one: a status, a
// short machine-readable `error`, a human `message`, and the MQTT reason code where there is one.
import { MqttError, ReasonCode, reasonCodeName } from '../../protocol/index.ts';

/** A refusal of the HTTP request itself (bad JSON, unknown route, missing parameter). */
export class ApiError extends Error {
  readonly status: number;
  readonly error: string;

  constructor(status: number, error: string, message: string) {
    super(message);
    this.status = status;
    this.error = error;
  }
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(`${JSON.stringify(body, null, 2)}\n`, {
    status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

/** HTTP status for a broker refusal; anything not listed is the request's fault (400). */
const statusByReason: Record<number, number> = {
  [ReasonCode.PacketTooLarge]: 413,
  [ReasonCode.NotAuthorized]: 403,
  [ReasonCode.QuotaExceeded]: 507, // Insufficient Storage: the namespace's retained quota
};

export function errorResponse(err: unknown, headers: Record<string, string> = {}): Response {
  if (err instanceof ApiError) return json({ error: err.error, message: err.message }, err.status, headers);
  if (err instanceof MqttError) {
    const code = err.reasonCode;
    return json({ error: reasonCodeName(code), reasonCode: code, message: err.message }, statusByReason[code] ?? 400, headers);
  }
  console.error(`api: ${String(err)}`);
  return json({ error: 'internal', message: 'the broker could not answer this request' }, 500, headers);
}
