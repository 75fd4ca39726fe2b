// Access decisions over a client's ACL rules: may it write (publish) a topic, read (receive) a
// topic, subscribe to a filter. A deny rule wins over any grant; nothing granted is denied.
import { parseSharedFilter } from '../../protocol/index.ts';
import { matches } from '../topic-match.ts';
import type { AclRule } from './acl.ts';

const grants = { read: new Set(['read', 'readwrite']), write: new Set(['write', 'readwrite']) } as const;

/** May a client holding these rules publish to (write) or receive from (read) this topic? */
export function mayAccess(rules: readonly AclRule[], mode: 'read' | 'write', topic: string): boolean {
  let granted = false;
  for (const rule of rules) {
    if (!matches(rule.topic, topic)) continue;
    if (rule.access === 'deny') return false;
    if (grants[mode].has(rule.access)) granted = true;
  }
  return granted;
}

/**
 * May a client holding these rules subscribe to this filter? Only when a read rule covers every
 * topic the filter can match, and no deny rule does; messages on topics a deny rule only
 * partly covers are held back at delivery.
 */
export function maySubscribe(rules: readonly AclRule[], topicFilter: string): boolean {
  const filter = parseSharedFilter(topicFilter)?.filter ?? topicFilter;
  let granted = false;
  for (const rule of rules) {
    if (!covers(rule.topic, filter)) continue;
    if (rule.access === 'deny') return false;
    if (grants.read.has(rule.access)) granted = true;
  }
  return granted;
}

/** Does every topic `filter` matches also match `rule`? Level by level: '#' covers the rest. */
export function covers(rule: string, filter: string): boolean {
  if (filter.startsWith('$') && /^[+#]/.test(rule)) return false; // [MQTT-4.7.2-1]
  const r = rule.split('/');
  const f = filter.split('/');
  for (let i = 0; i < r.length; i++) {
    if (r[i] === '#') return true;
    if (i >= f.length || f[i] === '#') return false;
    if (r[i] !== '+' && (f[i] === '+' || r[i] !== f[i])) return false;
  }
  return r.length === f.length;
}
