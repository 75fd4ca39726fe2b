// The rule engine of one object, from the Worker's env: MQTT_RULES_FILE (the rules file's
// contents, like MQTT_ACL_FILE; checked when the object starts, and an object whose file is
// wrong refuses to start, naming the rule and field), the rules stored through /api/rules, and
// how actions publish (`publish`, given by the object) and call out.
import { actionKinds } from '../rules/actions/index.ts';
import type { ActionContext } from '../rules/action.ts';
import { RuleEngine } from '../rules/engine.ts';
import { parseRulesFile, type Rule } from '../rules/rule.ts';
import { SqliteRuleStore } from './sqlite/rule-store.ts';
import type { Sql } from './sqlite/sql.ts';

/** The rules of MQTT_RULES_FILE (or MQTT_RULES_FILE__<namespace>); throws RuleError naming what is wrong. */
export function fileRules(env: object, namespace: string): Rule[] {
  const vars = env as Record<string, unknown>;
  const text = vars[`MQTT_RULES_FILE__${namespace}`] ?? vars.MQTT_RULES_FILE;
  if (typeof text !== 'string' || text.trim() === '') return [];
  return parseRulesFile(text, actionKinds, vars);
}

export function ruleEngine(env: object, namespace: string, sql: Sql, publish: ActionContext['publish']): RuleEngine {
  let rules: Rule[];
  try {
    rules = fileRules(env, namespace);
  } catch (err) {
    console.error(`namespace ${namespace}: ${(err as Error).message}`);
    throw err;
  }
  return new RuleEngine({
    store: new SqliteRuleStore(sql), kinds: actionKinds, env: env as Record<string, unknown>, clock: { now: () => Date.now() },
    context: { publish, fetch: (input, init) => fetch(input, init) },
    log: (level, message) => console[level](`${namespace}: ${message}`),
  }, rules);
}
