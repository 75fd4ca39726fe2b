// Creates and updates password files for MQTT_PASSWORD_FILE, like mosquitto_passwd, or the user
// store of a running broker through its admin API:
//   npm run passwd -- [-c] [-I iterations] <file> <user>        password read from stdin / prompted
//   npm run passwd -- [-c] [-I iterations] -b <file> <user> <password>
//   npm run passwd -- -D <file> <user>
//   npm run passwd -- --url <worker url> [--token <t>] [--ns <n>] [--acl <rule>]... [-b] [-D] <user> [password]
// Entries are salted PBKDF2-SHA256 from WebCrypto, written by the code the broker verifies with;
// against a broker the hash is made here and sent, never the password.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { defaultIterations, hashPassword, parsePasswordFile } from '../src/broker/auth/password.ts';

/** Cloudflare's largest secret or variable (https://developers.cloudflare.com/workers/platform/limits/). */
const maxSecretBytes = 5 * 1024;

const usage = `usage: npm run passwd -- [-c | -D] [-b] [-I iterations] <password file> <user> [password]
       npm run passwd -- --url <worker url> [--token <admin token>] [--ns <namespace>] [--acl <rule>]... [-D] [-b] [-I iterations] <user> [password]
  -c  create the file, replacing one that exists
  -D  delete the user
  -b  take the password from the command line (else standard input; prompted twice on a terminal)
  -I  PBKDF2 iterations, 1000 to 100000 (Cloudflare's limit), default ${defaultIterations}
  --url    add, change or delete the user in the user store of the broker at this URL (https://<worker>)
  --token  its MQTT_ADMIN_TOKEN (default: the MQTT_ADMIN_TOKEN environment variable)
  --ns     the namespace (default: default, the one behind /mqtt)
  --acl    an ACL rule for this user alone, such as "readwrite devices/%c/#" (repeat for more; replaces its rules)
  -h, --help  this text`;

const options = {
  create: { type: 'boolean', short: 'c' }, delete: { type: 'boolean', short: 'D' }, batch: { type: 'boolean', short: 'b' },
  iterations: { type: 'string', short: 'I' }, url: { type: 'string' }, token: { type: 'string' }, ns: { type: 'string' },
  acl: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options });
  } catch (err) {
    // Node's own text nests quotes (… as in '-- "--help"'); name the option plainly instead
    const option = /'(-[^',]+)/.exec((err as Error).message)?.[1] ?? '';
    const unknown = (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    console.error(`passwd: ${unknown ? `unknown option ${option}` : `${option} needs a value`}\n${usage}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const fileArgs = values.url === undefined ? 1 : 0;
  const [user, given] = positionals.slice(fileArgs);
  const wrong = !user || positionals.length > fileArgs + (values.batch ? 2 : 1) || (values.batch && given === undefined)
    || (values.create && values.delete) || (values.url !== undefined && values.create)
    || (values.url === undefined && (values.token ?? values.ns ?? values.acl) !== undefined);
  if (wrong) {
    console.error(usage);
    return 2;
  }
  if (/[:\s]/.test(user)) return fail(`user names may not hold ':' or white space`);
  return values.url === undefined ? editFile(positionals[0], user, given, values) : editStore(values.url, user, given, values);
}

async function newHash(given: string | undefined, values: Values): Promise<string> {
  const password = values.batch ? given! : await readPassword();
  if (password === '') throw new Error('empty password');
  return hashPassword(password, values.iterations ? Number(values.iterations) : defaultIterations);
}

async function editFile(file: string, user: string, given: string | undefined, values: Values): Promise<number> {
  const lines = values.create || !existsSync(file) ? [] : readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l !== '');
  parsePasswordFile(lines.join('\n')); // refuse to edit a file the broker would refuse
  const kept = lines.filter((l) => !l.startsWith(`${user}:`));
  if (values.delete) {
    if (kept.length === lines.length) return fail(`user ${user} not found`);
  } else {
    kept.push(`${user}:${await newHash(given, values)}`);
  }
  const text = kept.length ? `${kept.join('\n')}\n` : '';
  writeFileSync(file, text, { mode: 0o600 });
  const bytes = Buffer.byteLength(text);
  if (bytes > maxSecretBytes) {
    console.error(`passwd: warning: ${file} is ${bytes} bytes, over the 5 KB Cloudflare allows a secret `
      + '(https://developers.cloudflare.com/workers/platform/limits/): `wrangler secret put` will refuse it. '
      + 'Keep the other users in the user store: npm run passwd -- --url https://<worker> <user>');
  }
  return 0;
}

/** PUT or DELETE /api/users/<user> on a running broker. */
async function editStore(base: string, user: string, given: string | undefined, values: Values): Promise<number> {
  const url = new URL(`/api/users/${encodeURIComponent(user)}`, base);
  if (values.ns) url.searchParams.set('ns', values.ns);
  const token = values.token ?? process.env.MQTT_ADMIN_TOKEN;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const body = values.delete ? undefined : JSON.stringify({ hash: await newHash(given, values), acl: values.acl });
  const method = values.delete ? 'DELETE' : 'PUT';
  const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(30_000) });
  const answer = await res.json().catch(() => ({})) as { message?: string };
  if (!res.ok) return fail(`${url.origin} answered ${res.status}: ${answer.message ?? res.statusText}`);
  return 0;
}

function fail(message: string): number {
  console.error(`passwd: ${message}`);
  return 1;
}

/** One line from stdin; on a terminal, asked twice without echo. */
async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
  }
  const first = await prompt('Password: ');
  if (first !== (await prompt('Reenter password: '))) throw new Error('passwords do not match');
  return first;
}

function prompt(question: string): Promise<string> {
  process.stdout.write(question);
  process.stdin.setRawMode(true);
  process.stdin.resume();
  return new Promise((resolve) => {
    let typed = '';
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          process.stdin.off('data', onData).setRawMode(false).pause();
          process.stdout.write('\n');
          return resolve(typed);
        }
        if (ch === '\u0003') process.exit(130);
        typed = ch === '\u007f' ? typed.slice(0, -1) : typed + ch;
      }
    };
    process.stdin.on('data', onData);
  });
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    console.error(`passwd: ${err.message}`);
    process.exitCode = 1;
  },
);
