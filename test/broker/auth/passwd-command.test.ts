// scripts/passwd.ts, the mosquitto_passwd-like command, run as a user would run it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashPassword, parsePasswordFile, verifyPassword } from '../../../src/broker/auth/index.ts';

const script = join(import.meta.dirname, '../../../scripts/passwd.ts');

function passwd(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { input, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tempFile = () => join(mkdtempSync(join(tmpdir(), 'passwd-')), 'passwords');

async function verifies(file: string, user: string, password: string): Promise<boolean> {
  const entry = parsePasswordFile(readFileSync(file, 'utf8')).get(user);
  return !!entry && (await verifyPassword(password, entry));
}

// each test starts Node several times: slow on a busy machine
describe('npm run passwd', { timeout: 30_000 }, () => {
  it('creates a file (-c -b) whose entry the broker verifies, readable by its owner only', async () => {
    const file = tempFile();
    expect(passwd(['-c', '-b', '-I', '1000', file, 'alice', 'wonderland']).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^alice:\$pbkdf2-sha256\$1000\$[^$]+\$[^$]+\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await verifies(file, 'alice', 'wonderland')).toBe(true);
    expect(await verifies(file, 'alice', 'Wonderland')).toBe(false);
  });

  it('reads the password from standard input, adds users, replaces the old entry of a user, keeps comments', async () => {
    const file = tempFile();
    writeFileSync(file, '# site A\n');
    expect(passwd(['-I', '1000', file, 'bob'], 'builder\n').code).toBe(0);
    expect(passwd(['-b', '-I', '1000', file, 'carol', 'c']).code).toBe(0);
    expect(passwd(['-b', '-I', '1000', file, 'bob', 'rebuilt']).code).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n').filter((l) => l.startsWith('bob:'))).toHaveLength(1);
    expect(text.startsWith('# site A\n')).toBe(true);
    expect([await verifies(file, 'bob', 'rebuilt'), await verifies(file, 'bob', 'builder'), await verifies(file, 'carol', 'c')]).toEqual([true, false, true]);
  });

  it('deletes a user (-D), and says so when there is none', () => {
    const file = tempFile();
    passwd(['-c', '-b', '-I', '1000', file, 'alice', 'a']);
    passwd(['-b', '-I', '1000', file, 'bob', 'b']);
    expect(passwd(['-D', file, 'alice']).code).toBe(0);
    expect([...parsePasswordFile(readFileSync(file, 'utf8')).keys()]).toEqual(['bob']);
    expect(passwd(['-D', file, 'alice'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/not found/) });
  });

  it('warns when the file outgrows the 5 KB Cloudflare allows a secret (about 50 users), naming the user store', async () => {
    const file = tempFile();
    const entry = await hashPassword('x', 100_000);
    writeFileSync(file, Array.from({ length: 50 }, (_, i) => `device-${i}:${entry}\n`).join(''));
    const under = passwd(['-b', '-I', '1000', file, 'one-more', 'x']);
    expect(under).toMatchObject({ code: 0, stderr: '' });
    const over = passwd(['-b', file, 'device-50', 'x']);
    expect(readFileSync(file).length).toBeGreaterThan(5 * 1024);
    expect(over.code).toBe(0);
    expect(over.stderr).toMatch(/warning: .* is \d+ bytes, over the 5 KB .*limits.*npm run passwd -- --url/s);
  });

  it('refuses bad input: usage, user names with ":", iterations Workers cannot run, a malformed file', () => {
    const file = tempFile();
    expect(passwd([file]).code).toBe(2);
    expect(passwd(['-c', '-D', file, 'x']).code).toBe(2);
    expect(passwd(['--token', 't', file, 'x']).code).toBe(2); // store options without --url
    expect(passwd(['--url', 'http://127.0.0.1:1', '-c', 'x']).code).toBe(2);
    expect(passwd(['--url', 'http://127.0.0.1:1', '-b', 'x']).code).toBe(2);
    expect(passwd(['-b', file, 'a:b', 'x'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/':'/) });
    expect(passwd(['-b', '-I', '200000', file, 'a', 'x'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/iterations/) });
    writeFileSync(file, 'alice:plain\n');
    expect(passwd(['-b', file, 'bob', 'x'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/line 1/) });
  });

  it('--help prints the usage (0); an unknown option or a missing value is named plainly with the usage (2)', () => {
    expect(passwd(['--help'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: npm run passwd -- /) });
    expect(passwd(['-h']).code).toBe(0);
    const unknown = passwd(['--frob', 'f', 'u']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n').slice(0, 2)).toEqual(['passwd: unknown option --frob', expect.stringMatching(/^usage: /)]);
    expect(passwd(['-b', 'f', 'u', '-I']).stderr).toMatch(/^passwd: -I needs a value\n/);
  });
});
