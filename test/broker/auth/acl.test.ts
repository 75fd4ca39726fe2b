import { describe, expect, it } from 'vitest';
import { parseAclFile, parseRule } from '../../../src/broker/auth/index.ts';
import { covers, mayAccess, maySubscribe } from '../../../src/broker/auth/access.ts';
import { substitute } from '../../../src/broker/auth/acl.ts';

const file = `
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic write   shared/in

user bob
topic bob/#

pattern readwrite devices/%c/#
pattern read users/%u/inbox
`;

describe('acl_file syntax', () => {
  it('reads anonymous rules, user sections and patterns; access defaults to readwrite', () => {
    const acl = parseAclFile(file);
    expect(acl.anonymous).toEqual([{ access: 'read', topic: 'public/#' }]);
    expect(acl.users.get('alice')).toEqual([
      { access: 'readwrite', topic: 'alice/#' }, { access: 'deny', topic: 'alice/secret/#' }, { access: 'write', topic: 'shared/in' },
    ]);
    expect(acl.users.get('bob')).toEqual([{ access: 'readwrite', topic: 'bob/#' }]);
    expect(acl.patterns).toEqual([{ access: 'readwrite', topic: 'devices/%c/#' }, { access: 'read', topic: 'users/%u/inbox' }]);
  });

  it('keeps spaces inside a topic and refuses unknown keywords and empty rules, naming the line', () => {
    expect(parseRule('read a b/c')).toEqual({ access: 'read', topic: 'a b/c' });
    expect(() => parseAclFile('user x\ntopik read a')).toThrow(/line 2.*topik/);
    expect(() => parseAclFile('topic read')).toThrow(/line 1/);
  });

  it('fills %c and %u, and drops a pattern whose value could widen it (+, #, /) or is missing', () => {
    const rule = { access: 'readwrite' as const, topic: 'devices/%c/%u' };
    expect(substitute(rule, 'dev1', 'alice')).toEqual({ access: 'readwrite', topic: 'devices/dev1/alice' });
    for (const [id, user] of [['#', 'a'], ['a/b', 'a'], ['+', 'a'], ['d', undefined], ['d', '#']]) {
      expect(substitute(rule, id as string, user)).toBeUndefined();
    }
  });
});

describe('access decisions', () => {
  const rules = parseAclFile(file).users.get('alice')!;

  it('grants by access kind: read rules do not allow writes, write rules not reads', () => {
    expect(mayAccess(rules, 'write', 'shared/in')).toBe(true);
    expect(mayAccess(rules, 'read', 'shared/in')).toBe(false);
    expect(mayAccess(rules, 'read', 'alice/x/y')).toBe(true);
    expect(mayAccess(rules, 'write', 'bob/x')).toBe(false);
  });

  it('lets deny win over any grant', () => {
    expect(mayAccess(rules, 'read', 'alice/secret/key')).toBe(false);
    expect(mayAccess(rules, 'write', 'alice/secret')).toBe(false);
  });

  it('allows a subscription only when a read rule covers everything it can match', () => {
    expect(maySubscribe(rules, 'alice/+/x')).toBe(true);
    expect(maySubscribe(rules, 'alice/#')).toBe(true); // the denied part is held back at delivery
    expect(maySubscribe(rules, 'alice/secret/#')).toBe(false);
    expect(maySubscribe(rules, '#')).toBe(false);
    expect(maySubscribe(rules, '+/x')).toBe(false);
    expect(maySubscribe(rules, '$share/g/alice/a')).toBe(true);
  });

  it('covers level by level: + covers one level, # the rest, a literal only itself [MQTT-4.7.1]', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a/#', 'a', true], ['a/#', 'a/#', true], ['a/#', 'a/+/c', true], ['a/+', 'a/b', true], ['a/+', 'a/+', true],
      ['a/+', 'a/#', false], ['a/+', 'a/b/c', false], ['a/b', 'a/+', false], ['#', '#', true], ['#', '$SYS/x', false],
      ['+/x', '$SYS/x', false], ['$SYS/#', '$SYS/x', true], ['a/b', 'a/b', true], ['a/b', 'a/c', false],
    ];
    for (const [rule, filter, expected] of cases) expect([rule, filter, covers(rule, filter)]).toEqual([rule, filter, expected]);
  });
});
