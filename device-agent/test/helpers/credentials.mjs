// Credentials the broker on workerd checks: a password-file line in its PBKDF2-SHA256 format and
// an HS256 JSON Web Token, made here with node:crypto.
import { createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export function passwordLine(user, password, iterations = 1000) {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  return `${user}:$pbkdf2-sha256$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function hs256(claims, secret) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
