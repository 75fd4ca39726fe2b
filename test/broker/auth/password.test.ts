import { describe, expect, it } from 'vitest';
import { hashPassword, parseHash, parsePasswordFile, verifyPassword } from '../../../src/broker/auth/index.ts';

describe('password hashes', () => {
  it('writes $pbkdf2-sha256$<iterations>$<salt>$<hash> and verifies only the right password', async () => {
    const encoded = await hashPassword('s3cret', 1000);
    expect(encoded).toMatch(/^\$pbkdf2-sha256\$1000\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const entry = parseHash(encoded);
    expect(await verifyPassword('s3cret', entry)).toBe(true);
    expect(await verifyPassword('s3cret ', entry)).toBe(false);
    expect(await verifyPassword('', entry)).toBe(false);
  });

  it('salts every hash: the same password hashes differently twice', async () => {
    expect(await hashPassword('same', 1000)).not.toBe(await hashPassword('same', 1000));
  });

  it('agrees with PBKDF2-HMAC-SHA256 computed outside WebCrypto (Node\'s pbkdf2)', async () => {
    const { pbkdf2Sync } = await import('node:crypto');
    const expected = pbkdf2Sync('passwd', 'salt', 1000, 32, 'sha256').toString('base64').replace(/=+$/, '');
    const salt = btoa('salt').replace(/=+$/, '');
    expect(await verifyPassword('passwd', parseHash(`$pbkdf2-sha256$1000$${salt}$${expected}`))).toBe(true);
  });

  it('refuses other schemes and iteration counts Workers cannot run', () => {
    expect(() => parseHash('$7$101$abc$def')).toThrow(/pbkdf2-sha256/);
    expect(() => parseHash('$pbkdf2-sha256$100001$AAAA$AAAA')).toThrow(/iterations/);
    expect(() => parseHash('$pbkdf2-sha256$999$AAAA$AAAA')).toThrow(/iterations/);
    expect(() => parseHash('$pbkdf2-sha256$1000$!!$AAAA')).toThrow();
  });
});

describe('password file', () => {
  it('reads user:hash lines, skipping blanks and comments', async () => {
    const hash = await hashPassword('pw', 1000);
    const users = parsePasswordFile(`# devices\n\nalice:${hash}\r\nbob:${hash}\n`);
    expect([...users.keys()]).toEqual(['alice', 'bob']);
  });

  it('names the line that is wrong', async () => {
    const hash = await hashPassword('pw', 1000);
    expect(() => parsePasswordFile(`alice:${hash}\nbob\n`)).toThrow(/line 2/);
    expect(() => parsePasswordFile(`alice:plaintext\n`)).toThrow(/line 1/);
  });
});
