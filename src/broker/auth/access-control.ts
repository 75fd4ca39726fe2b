// The ACL hook: publish, subscribe and delivery checked against the client's rules, which come
// from its token's `acl` claim, else from the ACL file (its user's section, or the anonymous
// one, plus every pattern). With neither, every topic is open.
import { ReasonCode, type PublishPacket, type Subscription } from '../../protocol/index.ts';
import type { ClientInfo, Hooks, Verdict } from '../hooks.ts';
import { substitute, type AclFile, type AclRule } from './acl.ts';
import { mayAccess, maySubscribe } from './access.ts';

type AclHooks = Pick<Hooks, 'authorizePublish' | 'authorizeSubscribe' | 'authorizeDeliver'>;

export class AccessControl implements AclHooks {
  private readonly file?: AclFile;
  /** Rules per principal, computed once (delivery asks for every message). */
  private readonly cache = new WeakMap<object, { clientId: string; rules: AclRule[] | undefined }>();

  constructor(file?: AclFile) {
    this.file = file;
  }

  authorizePublish(client: ClientInfo, packet: PublishPacket): Verdict {
    const rules = this.rules(client);
    return !rules || mayAccess(rules, 'write', packet.topic) ? undefined : ReasonCode.NotAuthorized;
  }

  authorizeSubscribe(client: ClientInfo, subscription: Subscription): Verdict {
    const rules = this.rules(client);
    return !rules || maySubscribe(rules, subscription.topicFilter) ? undefined : ReasonCode.NotAuthorized;
  }

  authorizeDeliver(client: ClientInfo, topic: string): Verdict {
    const rules = this.rules(client);
    return !rules || mayAccess(rules, 'read', topic) ? undefined : ReasonCode.NotAuthorized;
  }

  /** The client's rules with %c and %u filled in; undefined when no ACL applies. */
  rules(client: ClientInfo): AclRule[] | undefined {
    const key = client.principal;
    const cached = key && this.cache.get(key);
    if (cached && cached.clientId === client.clientId) return cached.rules;
    const rules = this.compute(client);
    if (key) this.cache.set(key, { clientId: client.clientId, rules });
    return rules;
  }

  private compute(client: ClientInfo): AclRule[] | undefined {
    const username = client.principal ? client.principal.username : client.username;
    const raw = client.principal?.acl
      ?? (this.file && [...(username === undefined ? this.file.anonymous : (this.file.users.get(username) ?? [])), ...this.file.patterns]);
    if (!raw) return undefined;
    return raw.flatMap((rule) => substitute(rule, client.clientId, username) ?? []);
  }
}
