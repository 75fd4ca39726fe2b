// Upgrades an object whose rule outbox has the earlier layout (`rule_outbox`: a row per rule and
// message, each with its failed tries) to the shared outbox (`rule_messages`), in the event that
// opens the store, so what was waiting drains after the upgrade. Each rule's rows move in seq
// order to new seqs above every seq used before (seqs only grow, per rule), behind a new cursor;
// its failed tries become the cursor's runs and its saved counters keep counting what they counted.
// Rows of a rule with no definition, or of one that already has a cursor, stay in `rule_outbox`.
import { emptyCounters, maxSlots, type Cursor, type SavedState } from '../../rules/store.ts';
import type { Sql } from './sql.ts';

export function adoptRuleOutbox(sql: Sql): void {
  if (!sql.first('SELECT 1 AS x FROM sqlite_master WHERE type = \'table\' AND name = \'rule_outbox\'')) return;
  const defined = new Set(sql.all<{ name: string }>('SELECT name FROM rules').map((r) => r.name));
  const saved = new Map(sql.all<{ rule: string; saved: string }>('SELECT * FROM rule_state').map((r) => [r.rule, JSON.parse(r.saved) as SavedState]));
  const used = new Set([...saved.values()].flatMap((s) => (s.cursor ? [s.cursor.slot] : [])));
  let seq = Math.max(0, ...[...saved.values()].flatMap((s) => [s.counters.lastSeq, s.cursor?.done ?? 0]),
    ...['rule_messages', 'rule_outbox', 'rule_dead_letters'].map((t) => sql.first<{ s: number | null }>(`SELECT max(seq) AS s FROM ${t}`)!.s ?? 0));
  for (const { rule } of sql.all<{ rule: string }>('SELECT DISTINCT rule FROM rule_outbox')) {
    const state: SavedState = saved.get(rule) ?? { counters: emptyCounters(), pending: { count: 0, bytes: 0 }, dead: { count: 0, bytes: 0 } };
    const slot = Array.from({ length: maxSlots }, (_, i) => i).find((i) => !used.has(i));
    if (!defined.has(rule) || state.cursor || slot === undefined) continue;
    used.add(slot);
    const { n, k } = sql.first<{ n: number; k: number | null }>('SELECT count(*) AS n, sum(seq <= ?) AS k FROM rule_outbox WHERE rule = ?', state.counters.lastSeq, rule)!;
    sql.run(`INSERT INTO rule_messages (seq, topic, payload, qos, retain, received_at, meta, rules)
      SELECT ? + row_number() OVER (ORDER BY seq), topic, payload, qos, retain, received_at, meta, ? FROM rule_outbox WHERE rule = ?`, seq, 2 ** slot, rule);
    const cursor: Cursor = { slot, done: seq, tries: triesOf(sql, rule, seq) };
    // the saved counters counted the rows up to their lastSeq: those are the first k moved
    sql.run('INSERT INTO rule_state (rule, saved) VALUES (?, ?) ON CONFLICT (rule) DO UPDATE SET saved = excluded.saved',
      rule, JSON.stringify({ ...state, counters: { ...state.counters, lastSeq: seq + (k ?? 0) }, cursor }));
    sql.run('DELETE FROM rule_outbox WHERE rule = ?', rule);
    seq += n;
  }
  if (sql.first('SELECT 1 AS x FROM rule_outbox LIMIT 1')) return;
  try {
    sql.run('DROP TABLE rule_outbox');
  } catch {
    // SQLITE_LOCKED while a statement is still open on the connection: the empty table goes at a later start
  }
}

/** The head rows' failed tries as runs over their new seqs (base + rank), never rising along the outbox. */
function triesOf(sql: Sql, rule: string, base: number): Cursor['tries'] {
  const tried = sql.all<{ n: number; attempts: number }>(`SELECT n, attempts FROM
    (SELECT row_number() OVER (ORDER BY seq) AS n, attempts FROM rule_outbox WHERE rule = ?) WHERE attempts > 0 ORDER BY n`, rule);
  const tries: Cursor['tries'] = [];
  for (const [i, { n, attempts }] of tried.entries()) {
    if (n !== i + 1) break; // past the head: a row never tried
    const a = Math.min(attempts, tries.length ? tries[tries.length - 1][1] : attempts);
    if (tries.length && tries[tries.length - 1][1] === a) tries[tries.length - 1][0] = base + n;
    else tries.push([base + n, a]);
  }
  return tries;
}
