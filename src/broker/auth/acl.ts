// Access control lists in mosquitto's acl_file syntax: `topic [read|write|readwrite|deny] <topic>`
// lines before any `user` line are for anonymous clients, after `user <name>` for that user;
// `pattern [...] <topic>` lines are for every client, with %c (client id) and %u (user name).
import { MqttError, ReasonCode } from '../../protocol/index.ts';

export type Access = 'read' | 'write' | 'readwrite' | 'deny';

export interface AclRule {
  access: Access;
  topic: string;
}

export interface AclFile {
  anonymous: AclRule[];
  users: Map<string, AclRule[]>;
  patterns: AclRule[];
}

const accesses = new Set<string>(['read', 'write', 'readwrite', 'deny']);

/** `[access] <topic>`: the rest of a topic or pattern line (access defaults to readwrite). */
export function parseRule(text: string): AclRule {
  const trimmed = text.trim();
  const space = trimmed.indexOf(' ');
  const first = space < 0 ? trimmed : trimmed.slice(0, space);
  const access = accesses.has(first) ? (first as Access) : 'readwrite';
  const topic = (access === first ? trimmed.slice(first.length) : trimmed).trim();
  if (topic === '') throw new MqttError(ReasonCode.ImplementationSpecificError, `ACL rule without a topic: "${text}"`);
  return { access, topic };
}

export function parseAclFile(text: string): AclFile {
  const acl: AclFile = { anonymous: [], users: new Map(), patterns: [] };
  let current = acl.anonymous;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [keyword] = line.split(/\s+/, 1);
    const rest = line.slice(keyword.length).trim();
    try {
      if (keyword === 'user') {
        if (!acl.users.has(rest)) acl.users.set(rest, []);
        current = acl.users.get(rest)!;
      } else if (keyword === 'topic') current.push(parseRule(rest));
      else if (keyword === 'pattern') acl.patterns.push(parseRule(rest));
      else throw new Error(`unknown keyword "${keyword}"`);
    } catch (err) {
      throw new MqttError(ReasonCode.ImplementationSpecificError, `ACL file line ${index + 1}: ${(err as Error).message}`);
    }
  });
  return acl;
}

/**
 * %c and %u in a rule; undefined when the rule cannot apply: the value is missing, or holds a
 * wildcard or a level separator that would widen the rule (mosquitto's rule too).
 */
export function substitute(rule: AclRule, clientId: string, username: string | undefined): AclRule | undefined {
  if (!rule.topic.includes('%')) return rule;
  const unsafe = (v: string | undefined) => v === undefined || v === '' || /[+#/]/.test(v);
  if (rule.topic.includes('%c') && unsafe(clientId)) return undefined;
  if (rule.topic.includes('%u') && unsafe(username)) return undefined;
  return { access: rule.access, topic: rule.topic.replaceAll('%c', clientId).replaceAll('%u', username ?? '') };
}
