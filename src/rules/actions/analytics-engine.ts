// The Analytics Engine action: one data point per matched message, its doubles from numeric
// fields, its blobs from text fields (topic, client id …) and its index (the sampling key) from one.
//   { "kind": "analytics-engine", "binding": "RULES_ANALYTICS",
//     "doubles": ["value.temperature", "value.humidity"], "blobs": ["topic", "clientId"],
//     "index": "clientId" }
// A double must be a number (a boolean counts 1/0); a message where one is anything else fails
// its batch (a rule's condition can keep such messages out). A blob is the field as text ("" when
// absent, JSON for objects); the index likewise.
import type { ActionKind } from '../action.ts';
import { bindingOf, byteLength, onlyFields, parseField } from './fields.ts';

/**
 * Workers Analytics Engine limits (https://developers.cloudflare.com/analytics/analytics-engine/limits/):
 * per writeDataPoint 20 blobs, 20 doubles and 1 index; the blobs of one data point at most 16 KB
 * together, the index at most 96 bytes; at most 250 data points per Worker invocation.
 */
export const analyticsLimits = { blobs: 20, doubles: 20, blobBytes: 16 * 1024, indexBytes: 96, pointsPerInvocation: 250 } as const;

export interface AnalyticsConfig {
  binding: string;
  doubles: string[];
  blobs: string[];
  index?: string;
}

interface AnalyticsBinding {
  writeDataPoint(point: { doubles: number[]; blobs: string[]; indexes: string[] }): void;
}

function paths(value: unknown, field: string, max: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > max) throw new Error(`${field} must be a list of at most ${max} field paths`);
  value.forEach((path, i) => parseField(path, `${field}[${i}]`));
  return value as string[];
}

const asText = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : v instanceof Uint8Array ? new TextDecoder().decode(v) : typeof v === 'object' ? JSON.stringify(v) : String(v));

export const analyticsEngineAction: ActionKind<AnalyticsConfig> = {
  kind: 'analytics-engine',

  parse(config, env) {
    onlyFields(config, ['binding', 'doubles', 'blobs', 'index']);
    const { name } = bindingOf<AnalyticsBinding>(config, env, 'Analytics Engine dataset', ['writeDataPoint']);
    const doubles = paths(config.doubles, 'doubles', analyticsLimits.doubles);
    const blobs = paths(config.blobs, 'blobs', analyticsLimits.blobs);
    if (!doubles.length && !blobs.length) throw new Error('doubles or blobs must name at least one field');
    if (config.index !== undefined) parseField(config.index, 'index');
    return { binding: name, doubles, blobs, ...(config.index !== undefined && { index: config.index as string }) };
  },

  /** Data points per invocation are the bound; the engine must not write more across rules in one event. */
  limits() {
    return { count: analyticsLimits.pointsPerInvocation, bytes: 4 * 1024 * 1024 };
  },

  /**
   * Every data point is built and checked before the first is written, so a message that breaks a
   * limit fails the batch with nothing written. Writes are not acknowledged (writeDataPoint returns
   * nothing), so a batch delivered twice counts twice: sum over doubles knowing it is at least once.
   */
  async deliver(config, batch, context) {
    const dataset = context.env[config.binding] as AnalyticsBinding;
    const doubles = config.doubles.map((p) => [p, parseField(p, p)] as const);
    const blobs = config.blobs.map((p) => parseField(p, p));
    const index = config.index === undefined ? undefined : parseField(config.index, 'index');
    const points = batch.map((m) => {
      const values = doubles.map(([path, field]) => {
        const v = field(m);
        if (typeof v === 'boolean') return v ? 1 : 0;
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`message seq ${m.seq}: ${path} is ${JSON.stringify(v) ?? 'undefined'}, not a number`);
        return v;
      });
      const texts = blobs.map((field) => asText(field(m)));
      const bytes = texts.reduce((sum, t) => sum + byteLength(t), 0);
      if (bytes > analyticsLimits.blobBytes) throw new Error(`message seq ${m.seq}: blobs of ${bytes} bytes, more than the ${analyticsLimits.blobBytes} of a data point`);
      const key = index ? asText(index(m)) : '';
      if (byteLength(key) > analyticsLimits.indexBytes) throw new Error(`message seq ${m.seq}: index of ${byteLength(key)} bytes, more than ${analyticsLimits.indexBytes}`);
      return { doubles: values, blobs: texts, indexes: key ? [key] : [] };
    });
    for (const point of points) dataset.writeDataPoint(point);
  },
};
