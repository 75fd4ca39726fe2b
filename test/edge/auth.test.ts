// Authentication inside workerd: per-namespace settings, the namespace known to the object even
// after eviction, and the principal kept in the hibernation attachment.
import { env } from 'cloudflare:workers';
import { evictDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { text, WsClient } from './ws-client.ts';

const utf8 = new TextEncoder();
const b64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

/** An HS256 token for the "secured" namespace's secret (see vitest.config.ts). */
async function token(claims: Record<string, unknown>): Promise<string> {
  const key = await crypto.subtle.importKey('raw', utf8.encode('workers-test-secret'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const signed = `${b64url(utf8.encode('{"alg":"HS256","typ":"JWT"}'))}.${b64url(utf8.encode(JSON.stringify(claims)))}`;
  return `${signed}.${b64url(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8.encode(signed))))}`;
}

const connack = (p: unknown) => (p as { type: string; reasonCode: number });

describe('authentication in the Durable Object', () => {
  it('applies the namespace\'s own settings: anonymous refused where the default namespace allows it', async () => {
    const open = await WsClient.open('/mqtt/auth-open');
    expect(connack(await open.connect('a'))).toMatchObject({ type: 'connack', reasonCode: 0 });
    const secured = await WsClient.open('/mqtt/secured');
    expect(connack(await secured.connect('a'))).toMatchObject({ type: 'connack', reasonCode: 0x87 });
    expect(await secured.closedWithin()).toBe(true);
  });

  it('knows its namespace after eviction and keeps each connection\'s principal across it', async () => {
    const dev = await WsClient.open('/mqtt/secured');
    const password = utf8.encode(await token({ sub: 'd1', namespace: 'secured' }));
    expect(connack(await dev.connect('d1', { username: 'u', password }))).toMatchObject({ reasonCode: 0 });

    await evictDurableObject(env.BROKER.getByName('secured'));

    dev.send({ type: 'publish', topic: 'devices/d2/x', payload: text('not mine'), qos: 1, packetId: 1, retain: false, dup: false });
    expect(await dev.next()).toMatchObject({ type: 'puback', packetId: 1, reasonCode: 0x87 });
    dev.send({ type: 'publish', topic: 'devices/d1/x', payload: text('mine'), qos: 1, packetId: 2, retain: false, dup: false });
    expect(await dev.next()).toMatchObject({ type: 'puback', packetId: 2, reasonCode: 0x10 });

    const again = await WsClient.open('/mqtt/secured');
    const here = utf8.encode(await token({ namespace: 'secured' }));
    expect(connack(await again.connect('d3', { username: 'u', password: here }))).toMatchObject({ reasonCode: 0 });
    const other = await WsClient.open('/mqtt/secured');
    const elsewhere = utf8.encode(await token({ namespace: 'plant-b' }));
    expect(connack(await other.connect('o', { username: 'u', password: elsewhere }))).toMatchObject({ reasonCode: 0x87 });
  });
});
