// Rule definitions, conditions and projections: what is accepted, what is refused and how the
// refusal names the rule and the field.
import { describe, expect, it } from 'vitest';
import { actionKinds } from '../../src/rules/actions/index.ts';
import { test as holds } from '../../src/rules/condition.ts';
import { parseProjection, project } from '../../src/rules/projection.ts';
import { backoffDelay, parseRule, parseRulesFile } from '../../src/rules/rule.ts';
import { ruleBounds } from '../../src/rules/limits.ts';

const env = { HOOK_SECRET: 's3cret' };
const hook = { kind: 'webhook', url: 'https://example.com/in' };
const parse = (r: Record<string, unknown>) => parseRule({ name: 'r1', topic: 'a/#', action: hook, ...r }, actionKinds, env);

describe('rule definitions', () => {
  it('takes a minimal rule with the documented defaults', () => {
    const rule = parse({});
    expect(rule).toMatchObject({ name: 'r1', topic: 'a/#', enabled: true, tries: ruleBounds.tries, backoff: { initialMs: 1000, maxMs: 60_000 } });
    expect(rule.outbox).toEqual({ messages: ruleBounds.outboxMessages, bytes: ruleBounds.outboxBytes });
    expect(rule.action.kind.kind).toBe('webhook');
  });

  it.each([
    [{ name: 'bad name' }, /name must be/],
    [{ topic: 'a/#/b' }, /rule "r1": topic "a\/#\/b" is not a valid topic filter/],
    [{ topic: 7 }, /rule "r1": topic must be/],
    [{ tries: 0 }, /rule "r1": tries must be a whole number from 1 to 100/],
    [{ tries: 101 }, /tries must be/],
    [{ backoff: { initialMs: 5000, maxMs: 1000 } }, /backoff.maxMs must be at least/],
    [{ outbox: { messages: ruleBounds.maxOutboxMessages + 1 } }, /outbox.messages must be a whole number from 1 to 100000/],
    [{ outbox: { bytes: ruleBounds.maxOutboxBytes + 1 } }, /outbox.bytes/],
    [{ colour: 'red' }, /rule "r1": unknown field colour/],
    [{ enabled: 'yes' }, /enabled must be true or false/],
    [{ action: { kind: 'carrier-pigeon' } }, /rule "r1": action.kind must be one of republish, webhook/],
    [{ action: { kind: 'webhook', url: 'ftp://x' } }, /rule "r1": action: url must be an absolute http/],
    [{ action: { ...hook, secretEnv: 'MISSING' } }, /rule "r1": action: secretEnv: MISSING is not set/],
    [{ action: { ...hook, timeoutMs: 60_000 } }, /timeoutMs must be a whole number from 100 to 15000/],
    [{ action: { ...hook, headers: { 'x-signature-256': 'forged' } } }, /is set by the broker/],
    [{ action: { kind: 'republish', topic: '$SYS/x' } }, /may not begin with \$/],
    [{ action: { kind: 'republish', topic: 'a/+' } }, /is not a valid topic name/],
    [{ condition: { eval: ['1'] } }, /rule "r1": condition: operation "eval" is not supported/],
    [{ condition: { map: [[1], { var: '' }] } }, /operation "map" is not supported/],
    [{ condition: { '>': [1, 2], '<': [1, 2] } }, /one key/],
    [{ condition: 'temp > 3' }, /condition: must be a JsonLogic object/],
    [{ projection: [] }, /projection: must be a non-empty list/],
    [{ projection: ['a..b'] }, /projection: "a..b" is not a field path/],
  ])('refuses %j naming the rule and field', (change, message) => {
    expect(() => parse(change)).toThrow(message);
  });

  it('bounds a condition by size and depth', () => {
    let deep: unknown = { var: 'a' };
    for (let i = 0; i <= ruleBounds.maxConditionDepth; i++) deep = { '!': [deep] };
    expect(() => parse({ condition: deep })).toThrow(/nests deeper than 16/);
    expect(() => parse({ condition: { in: ['x'.repeat(ruleBounds.maxConditionBytes), { var: 'a' }] } })).toThrow(/bytes of JSON; at most 4096/);
  });

  it('reads a rules file and names the rule that is wrong', () => {
    const rules = parseRulesFile(JSON.stringify({ rules: [{ name: 'a', topic: 'x', action: hook }, { name: 'b', topic: 'y', action: hook }] }), actionKinds, env);
    expect(rules.map((r) => r.name)).toEqual(['a', 'b']);
    expect(() => parseRulesFile('{', actionKinds, env)).toThrow(/MQTT_RULES_FILE is not JSON/);
    expect(() => parseRulesFile('{"rulez": []}', actionKinds, env)).toThrow(/must be \{"rules": \[...\]\}/);
    expect(() => parseRulesFile(JSON.stringify([{ topic: 'x', action: hook }]), actionKinds, env)).toThrow(/MQTT_RULES_FILE rule #1: name must be/);
    expect(() => parseRulesFile(JSON.stringify([{ name: 'a', topic: 'x', action: hook }, { name: 'a', topic: 'y', action: hook }]), actionKinds, env)).toThrow(/rule "a" is defined twice/);
    const many = Array.from({ length: ruleBounds.maxRules + 1 }, (_, i) => ({ name: `r${i}`, topic: 'x', action: hook }));
    expect(() => parseRulesFile(JSON.stringify(many), actionKinds, env)).toThrow(/holds 51 rules; at most 50/);
  });

  it('doubles the backoff per try up to its cap', () => {
    const b = { initialMs: 100, maxMs: 1000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(b, n))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});

describe('conditions (JsonLogic)', () => {
  it.each([
    [{ '>': [{ var: 'temp' }, 30] }, { temp: 31 }, true],
    [{ '>': [{ var: 'temp' }, 30] }, { temp: 30 }, false],
    [{ and: [{ '==': [{ var: 'kind' }, 'alarm'] }, { '<=': [{ var: 'level' }, 3] }] }, { kind: 'alarm', level: 2 }, true],
    [{ in: ['err', { var: 'msg' }] }, { msg: 'an error' }, true],
    [{ '!': [{ missing: ['a.b'] }] }, { a: { b: 0 } }, true],
    [{ '>': [{ var: 'a.b.c' }, 1] }, { a: 5 }, false],
  ])('%j on %j is %s', (condition, value, expected) => {
    expect(holds(parse({ condition }).condition!, value)).toBe(expected);
  });
});

describe('projections', () => {
  const envelope = { topic: 't/1', clientId: 'c1', receivedAt: 5 };
  it('keeps listed paths under their names and leaves out missing ones', () => {
    expect(project(parseProjection(['temp', 'meta.id', 'nope']), { temp: 3, meta: { id: 'x' }, other: 1 }, envelope)).toEqual({ temp: 3, 'meta.id': 'x' });
  });
  it('renames, reads arrays by index and the message fields', () => {
    const p = parseProjection({ t: 'readings.1', device: '$clientId', at: '$receivedAt', topic: '$topic' });
    expect(project(p, { readings: [1, 2] }, envelope)).toEqual({ t: 2, device: 'c1', at: 5, topic: 't/1' });
  });
  it('does not walk into prototypes', () => {
    expect(project(parseProjection(['constructor', 'a.__proto__']), { a: {} }, envelope)).toEqual({});
  });
  it('is bounded in fields', () => {
    expect(() => parseProjection(Array.from({ length: 65 }, (_, i) => `f${i}`))).toThrow(/at most 64/);
  });
});
