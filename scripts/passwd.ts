// Creates and updates password files for MQTT_PASSWORD_FILE, like mosquitto_passwd:
//   npm run passwd -- [-c] [-I iterations] <file> <user>        password read from stdin / prompted
//   npm run passwd -- [-c] [-I iterations] -b <file> <user> <password>
//   npm run passwd -- -D <file> <user>
// Entries are salted PBKDF2-SHA256 from WebCrypto, written by the code the broker verifies with.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { defaultIterations, hashPassword, parsePasswordFile } from '../src/broker/auth/password.ts';

const usage = `usage: npm run passwd -- [-c | -D] [-b] [-I iterations] <password file> <user> [password]
  -c  create the file, replacing one that exists
  -D  delete the user
  -b  take the password from the command line (else standard input; prompted twice on a terminal)
  -I  PBKDF2 iterations, 1000 to 100000 (Cloudflare's limit), default ${defaultIterations}
  -h, --help  this text`;

const options = {
  create: { type: 'boolean', short: 'c' }, delete: { type: 'boolean', short: 'D' }, batch: { type: 'boolean', short: 'b' },
  iterations: { type: 'string', short: 'I' }, help: { type: 'boolean', short: 'h' },
} as const;

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
  const [file, user, given] = positionals;
  if (!file || !user || positionals.length > (values.batch ? 3 : 2) || (values.batch && given === undefined) || (values.create && values.delete)) {
    console.error(usage);
    return 2;
  }
  if (/[:\s]/.test(user)) return fail(`user names may not hold ':' or white space`);
  const lines = values.create || !existsSync(file) ? [] : readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l !== '');
  parsePasswordFile(lines.join('\n')); // refuse to edit a file the broker would refuse
  const kept = lines.filter((l) => !l.startsWith(`${user}:`));
  if (values.delete) {
    if (kept.length === lines.length) return fail(`user ${user} not found`);
  } else {
    const password = values.batch ? given! : await readPassword();
    if (password === '') return fail('empty password');
    kept.push(`${user}:${await hashPassword(password, values.iterations ? Number(values.iterations) : defaultIterations)}`);
  }
  writeFileSync(file, kept.length ? `${kept.join('\n')}\n` : '', { mode: 0o600 });
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
