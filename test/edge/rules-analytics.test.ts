// The Analytics Engine action against the local dataset binding. The local binding accepts data
// points and keeps none, so the test records what reaches it on the way through.
import { describe, expect, it } from 'vitest';
import { analyticsEngineAction, analyticsLimits } from '../../src/rules/actions/analytics-engine.ts';
import { actionContext, ruleMessage, workerEnv } from './rule-messages.ts';

type Point = AnalyticsEngineDataPoint;

/** The real local dataset, each data point written to it also kept in `points`. */
function recording(): { points: Point[]; context: ReturnType<typeof actionContext> } {
  const real = workerEnv.RULES_ANALYTICS as AnalyticsEngineDataset;
  const points: Point[] = [];
  const dataset = { writeDataPoint: (p: Point) => { real.writeDataPoint(p); points.push(p); } };
  return { points, context: actionContext('ae', { ...workerEnv, RULES_ANALYTICS: dataset }) };
}

const config = (extra: Record<string, unknown> = {}) => analyticsEngineAction.parse({
  kind: 'analytics-engine', binding: 'RULES_ANALYTICS', doubles: ['value.temperature', 'value.on'], blobs: ['topic', 'clientId', 'topic.1'], index: 'clientId', ...extra,
}, workerEnv);

describe('analytics engine action: configuration', () => {
  it('refuses a missing binding, one that is not a dataset, too many fields, no fields, unknown paths', () => {
    expect(() => analyticsEngineAction.parse({ kind: 'analytics-engine', binding: 'NOPE', doubles: ['value.x'] }, workerEnv)).toThrow(/NOPE: this Worker has no such binding/);
    expect(() => analyticsEngineAction.parse({ kind: 'analytics-engine', binding: 'RULES_DB', doubles: ['value.x'] }, workerEnv)).toThrow(/RULES_DB is not a Analytics Engine dataset/);
    expect(() => config({ doubles: Array(21).fill('value.x') })).toThrow(/doubles must be a list of at most 20/);
    expect(() => config({ blobs: Array(21).fill('topic') })).toThrow(/blobs must be a list of at most 20/);
    expect(() => config({ doubles: [], blobs: [] })).toThrow(/at least one field/);
    expect(() => config({ doubles: ['temperature'] })).toThrow(/doubles\[0\]: "temperature" is not a field path/);
    expect(() => config({ index: 'value.a b' })).toThrow(/index/);
    expect(() => config({ indexes: ['topic'] })).toThrow(/unknown field indexes/);
    expect(analyticsEngineAction.limits(config()).count).toBe(250);
  });
});

describe('analytics engine action: delivery', () => {
  it('writes one data point per message, in seq order: doubles from numbers, blobs as text, the index', async () => {
    const { points, context } = recording();
    const batch = [
      ruleMessage(1, 'plant/line1/temp', '{"temperature":21.5,"on":true}', { clientId: 'dev-a' }),
      ruleMessage(2, 'plant/line2/temp', '{"temperature":-4,"on":false}'),
    ];
    await analyticsEngineAction.deliver(config(), batch, context);
    expect(points).toEqual([
      { doubles: [21.5, 1], blobs: ['plant/line1/temp', 'dev-a', 'line1'], indexes: ['dev-a'] },
      { doubles: [-4, 0], blobs: ['plant/line2/temp', '', 'line2'], indexes: [] },
    ]);
  });

  it('a batch delivered twice writes its points twice (writes are not acknowledged: at least once)', async () => {
    const { points, context } = recording();
    const batch = [ruleMessage(1, 'a/b', '{"temperature":1,"on":1}')];
    await analyticsEngineAction.deliver(config(), batch, context);
    await analyticsEngineAction.deliver(config(), batch, context);
    expect(points.length).toBe(2);
  });

  it('a message whose double is not a number fails the batch with nothing written, naming its seq', async () => {
    const { points, context } = recording();
    const batch = [ruleMessage(1, 'a/b', '{"temperature":1,"on":1}'), ruleMessage(2, 'a/b', '{"temperature":"hot","on":1}')];
    await expect(analyticsEngineAction.deliver(config(), batch, context)).rejects.toThrow(/message seq 2: value.temperature is "hot", not a number/);
    await expect(analyticsEngineAction.deliver(config(), [ruleMessage(3, 'a/b', 'not json')], context)).rejects.toThrow(/seq 3: value.temperature is undefined/);
    expect(points).toEqual([]);
  });

  it('blobs over 16 KB and an index over 96 bytes fail the batch, naming the seq', async () => {
    const { points, context } = recording();
    const wide = ruleMessage(1, 'a/b', JSON.stringify({ temperature: 1, on: 1, note: 'n'.repeat(analyticsLimits.blobBytes) }));
    await expect(analyticsEngineAction.deliver(config({ blobs: ['topic', 'value.note'] }), [wide], context)).rejects.toThrow(/seq 1: blobs of 16387 bytes, more than the 16384/);
    const long = ruleMessage(2, 'a/b', '{"temperature":1,"on":1}', { clientId: 'c'.repeat(97) });
    await expect(analyticsEngineAction.deliver(config(), [long], context)).rejects.toThrow(/seq 2: index of 97 bytes, more than 96/);
    const fits = ruleMessage(3, 'a/b', JSON.stringify({ temperature: 1, on: 1, note: 'n'.repeat(analyticsLimits.blobBytes) }), { clientId: 'c'.repeat(96) });
    await analyticsEngineAction.deliver(config({ blobs: ['value.note'] }), [fits], context);
    expect(points.length).toBe(1);
  });

  it('writes straight to the real local dataset binding too', async () => {
    await analyticsEngineAction.deliver(config(), [ruleMessage(1, 'a/b', '{"temperature":1,"on":1}')], actionContext('ae'));
  });
});
