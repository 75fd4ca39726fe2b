// The user store's routes (/api/users): add, change and delete users and put their ACL rules.
// Served by the namespace's object, or in a sharded namespace by session object #0, which holds
// the store. A hash is never answered: SCRAM would take it as a password.
import { MqttError } from '../../protocol/index.ts';
import { checkUsername, hashPassword, parseAclRules, parseHash } from '../../broker/auth/index.ts';
import type { SqliteUsers } from '../sqlite/user-store.ts';
import { bad, limit, notFound, readJsonObject, type Route } from './dispatch.ts';
import { json } from './json.ts';

/** Largest request body: a password or hash and 2 KiB of rules fit well within it. */
const maxBody = 16 * 1024;
/** Longest password taken (MQTT's Password field is at most 65,535 bytes [MQTT-3.1.3.5]). */
const maxPasswordBytes = 65_535;

const fields = new Set(['password', 'hash', 'acl']);

/** A check of the auth module, its refusal a 400. */
function checked<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    throw err instanceof MqttError ? bad(err.message) : err;
  }
}

/** `acl`: undefined (absent), null (remove), or rules. */
function aclOf(value: unknown): string[] | null | undefined {
  if (value === undefined || value === null) return value;
  checked(() => parseAclRules(value));
  return value as string[];
}

/** PUT /api/users/<name>: `{"password"}` (hashed here) or `{"hash"}` (from `npm run passwd`), and maybe `{"acl"}`. */
async function hashOf(body: Record<string, unknown>): Promise<string> {
  const { password, hash } = body;
  if ((password === undefined) === (hash === undefined)) throw bad('give either password or hash');
  if (hash !== undefined) {
    if (typeof hash !== 'string') throw bad('hash must be a $pbkdf2-sha256$ string');
    checked(() => parseHash(hash));
    return hash;
  }
  if (typeof password !== 'string' || password === '') throw bad('password must be a non-empty string');
  const bytes = new TextEncoder().encode(password).length;
  if (bytes > maxPasswordBytes) throw bad(`a password is at most ${maxPasswordBytes} bytes`);
  return hashPassword(password);
}

const view = (r: { username: string; acl?: string[] }) => ({ username: r.username, acl: r.acl ?? null });

export const userRoutes: Route<{ users: SqliteUsers }>[] = [
  ['GET', /^\/api\/users$/, ({ users }, _r, url) => {
    const n = limit(url);
    const page = users.list(url.searchParams.get('after') ?? '', n);
    return json({ users: page.map(view), next: page.length === n ? page[n - 1].username : null });
  }],
  ['GET', /^\/api\/users\/([^/]+)$/, ({ users }, _r, _u, name) => {
    const user = users.get(name);
    if (!user) throw notFound(`no user ${name}`);
    return json(view(user));
  }],
  ['PUT', /^\/api\/users\/([^/]+)$/, async ({ users }, request, _u, name) => {
    checked(() => checkUsername(name));
    const body = await readJsonObject(request, maxBody);
    const unknown = Object.keys(body).find((k) => !fields.has(k));
    if (unknown) throw bad(`unknown field ${unknown}`);
    const acl = aclOf(body.acl);
    const created = users.put(name, await hashOf(body), acl);
    return json({ username: name, created }, created ? 201 : 200);
  }],
  ['DELETE', /^\/api\/users\/([^/]+)$/, ({ users }, _r, _u, name) => {
    if (!users.delete(name)) throw notFound(`no user ${name}`);
    return json({ deleted: name });
  }],
  ['PUT', /^\/api\/users\/([^/]+)\/acl$/, async ({ users }, request, _u, name) => {
    const body = await readJsonObject(request, maxBody);
    if (!('acl' in body) || Object.keys(body).length !== 1) throw bad('the body is {"acl": [rules]} or {"acl": null}');
    const acl = aclOf(body.acl) ?? null;
    if (!users.setAcl(name, acl)) throw notFound(`no user ${name}`);
    return json(view({ username: name, acl: acl ?? undefined }));
  }],
];
