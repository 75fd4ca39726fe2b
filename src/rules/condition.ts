/// <reference path="./json-logic-js.d.ts" />
// A rule's condition: a JsonLogic expression (https://jsonlogic.com) over the JSON payload,
// evaluated by json-logic-js (an interpreter: no eval, which Workers forbid). Only a small set of
// operations is accepted, checked when the rule is: comparisons, logic, arithmetic, `var`,
// `missing`, `in`, `cat`, `substr`. No array iteration (map/filter/reduce), so evaluating a
// condition costs at most its size times the payload's.
import jsonLogic from 'json-logic-js';
import { ruleBounds } from './limits.ts';

export type Condition = Record<string, unknown>;

export const conditionOperations = new Set([
  'var', 'missing', 'missing_some', 'if', '?:', '==', '===', '!=', '!==', '!', '!!', 'or', 'and',
  '>', '>=', '<', '<=', 'in', 'cat', 'substr', '+', '-', '*', '/', '%', 'min', 'max',
]);

/** Checks a condition's form and operations; throws naming the problem. */
export function parseCondition(value: unknown): Condition {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('must be a JsonLogic object, e.g. {">": [{"var": "temp"}, 30]}');
  const bytes = new TextEncoder().encode(JSON.stringify(value)).length;
  if (bytes > ruleBounds.maxConditionBytes) throw new Error(`is ${bytes} bytes of JSON; at most ${ruleBounds.maxConditionBytes}`);
  walk(value, 0);
  return value as Condition;
}

function walk(node: unknown, depth: number): void {
  if (depth > ruleBounds.maxConditionDepth) throw new Error(`nests deeper than ${ruleBounds.maxConditionDepth} levels`);
  if (Array.isArray(node)) return node.forEach((n) => walk(n, depth + 1));
  if (node === null || typeof node !== 'object') return;
  const keys = Object.keys(node);
  if (keys.length !== 1) throw new Error(`an operation is an object with one key, got {${keys.join(', ')}}`);
  if (!conditionOperations.has(keys[0])) throw new Error(`operation "${keys[0]}" is not supported (supported: ${[...conditionOperations].join(' ')})`);
  walk((node as Record<string, unknown>)[keys[0]], depth + 1);
}

/** Whether the payload's JSON value satisfies the condition (JsonLogic truthiness). */
export function test(condition: Condition, value: unknown): boolean {
  try {
    return jsonLogic.truthy(jsonLogic.apply(condition, value as never));
  } catch {
    return false; // e.g. `var` into a value of the wrong shape
  }
}
