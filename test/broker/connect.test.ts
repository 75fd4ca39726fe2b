import { describe, expect, it } from 'vitest';
import { connectPacket, text, World } from './harness.ts';

describe('CONNECT', () => {
  it('accepts a 3.1.1 client with return code 0 and no session present [MQTT-3.2.2-1]', async () => {
    const w = new World();
    const c = w.client(4);
    await c.send(connectPacket({ clientId: 'a' }));
    expect(c.next('connack')).toMatchObject({ sessionPresent: false, reasonCode: 0 });
  });

  it('accepts MQTT 3.1 (MQIsdp) clients', async () => {
    const w = new World();
    const c = w.client(3);
    await c.send(connectPacket({ version: 3, clientId: 'old-board' }));
    expect(c.next('connack').reasonCode).toBe(0);
  });

  it('refuses a 3.1 client id longer than 23 characters with return code 2', async () => {
    const w = new World();
    const c = w.client(3);
    await c.send(connectPacket({ version: 3, clientId: 'x'.repeat(24) }));
    expect(c.next('connack').reasonCode).toBe(2);
    expect(c.closed).toBe(true);
  });

  it('refuses a client id longer than the configured limit (v5 0x85)', async () => {
    const w = new World({ config: { maxClientIdLength: 8 } });
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, clientId: 'x'.repeat(9) }));
    expect(c.next('connack').reasonCode).toBe(0x85);
  });

  it('assigns a client id to a 3.1.1 clean-session client with an empty id [MQTT-3.1.3-6]', async () => {
    const w = new World();
    const c = w.client(4);
    await c.send(connectPacket({ clientId: '', clean: true }));
    expect(c.next('connack').reasonCode).toBe(0);
    expect(c.conn.clientId).toMatch(/^auto-/);
  });

  it('refuses an empty client id without clean session on 3.1.1 with return code 2 [MQTT-3.1.3-8]', async () => {
    const w = new World();
    const c = w.client(4);
    await c.send(connectPacket({ clientId: '', clean: false }));
    expect(c.next('connack').reasonCode).toBe(2);
    expect(c.closed).toBe(true);
  });

  it('returns an Assigned Client Identifier on v5 [MQTT-3.2.2-16]', async () => {
    const w = new World();
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, clientId: '' }));
    const connack = c.next('connack');
    expect(connack.properties?.assignedClientIdentifier).toMatch(/^auto-/);
    expect(connack.properties?.receiveMaximum).toBe(w.broker.config.receiveMaximum);
    expect(connack.properties?.topicAliasMaximum).toBe(w.broker.config.topicAliasMaximum);
    expect(connack.properties?.maximumPacketSize).toBe(w.broker.config.maxPacketSize);
  });

  it('answers Request Response Information with a response topic root for the client [MQTT-3.1.2-28]', async () => {
    const w = new World();
    const asked = w.client(5);
    await asked.send(connectPacket({ version: 5, clientId: 'dev', properties: { requestResponseInformation: 1 } }));
    expect(asked.next('connack').properties?.responseInformation).toBe('response/dev/');
    const quiet = w.client(5);
    await quiet.send(connectPacket({ version: 5, clientId: 'dev2' }));
    expect(quiet.next('connack').properties?.responseInformation).toBeUndefined();
  });

  it('refuses an unknown protocol level with 3.x return code 1 and closes [MQTT-3.1.2-2]', async () => {
    const w = new World();
    const c = w.client(4);
    await c.sendBytes(new Uint8Array([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, 0x78]));
    expect(c.next('connack').reasonCode).toBe(1);
    expect(c.closed).toBe(true);
  });

  it('refuses a v5 CONNECT with a malformed property with 0x81 and closes', async () => {
    const w = new World();
    const c = w.client(5);
    // properties: length 2, Receive Maximum (0x21) cut short
    await c.sendBytes(new Uint8Array([0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0x02, 0x00, 0x00, 0x02, 0x21, 0x00, 0x00, 0x01]));
    expect(c.next('connack').reasonCode).toBe(0x81);
    expect(c.closed).toBe(true);
  });

  it('closes a connection whose first packet is not CONNECT [MQTT-3.1.0-1]', async () => {
    const w = new World();
    const c = w.client(4);
    await c.send({ type: 'pingreq' });
    expect(c.received).toEqual([]);
    expect(c.closed).toBe(true);
  });

  it('treats a second CONNECT as a protocol error (v5 DISCONNECT 0x82) [MQTT-3.1.0-2]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5 });
    await c.send(connectPacket({ version: 5 }));
    expect(c.next('disconnect').reasonCode).toBe(0x82);
    expect(c.closed).toBe(true);
  });

  it('refuses enhanced authentication when no method is configured (0x8C)', async () => {
    const w = new World();
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, properties: { authenticationMethod: 'SCRAM-SHA-1' } }));
    expect(c.next('connack').reasonCode).toBe(0x8c);
  });

  it('answers an authentication hook rejection with its code (3.1.1: return code 4 or 5)', async () => {
    const w = new World({ hooks: [{ authenticate: (_c, p) => (p.username === 'good' ? undefined : 0x86) }] });
    const bad = w.client(4);
    await bad.send(connectPacket({ username: 'bad', password: 'x' }));
    expect(bad.next('connack').reasonCode).toBe(4);
    const bad5 = w.client(5);
    await bad5.send(connectPacket({ version: 5, username: 'bad' }));
    expect(bad5.next('connack').reasonCode).toBe(0x86);
    await w.connect({ clientId: 'ok', username: 'good' });
  });

  it('takes over a live client id: the old v5 connection gets DISCONNECT 0x8E [MQTT-3.1.4-3]', async () => {
    const w = new World();
    const old = await w.connect({ version: 5, clientId: 'dup' });
    const fresh = await w.connect({ version: 5, clientId: 'dup' });
    expect(old.next('disconnect').reasonCode).toBe(0x8e);
    expect(old.closed).toBe(true);
    expect(fresh.closed).toBe(false);
    await fresh.send({ type: 'pingreq' });
    expect(fresh.next('pingresp')).toEqual({ type: 'pingresp' });
  });

  it('takes over a live 3.1.1 client id by closing the old connection', async () => {
    const w = new World();
    const old = await w.connect({ clientId: 'dup' });
    await w.connect({ clientId: 'dup' });
    expect(old.received).toEqual([]);
    expect(old.closed).toBe(true);
  });

  it('refuses connections beyond the configured maximum (v5 0x97, 3.1.1 code 3)', async () => {
    const w = new World({ config: { maxConnections: 1 } }); // per gateway
    await w.connect({ clientId: 'one', gateway: 0 });
    const two = w.client(5, 0);
    await two.send(connectPacket({ version: 5, clientId: 'two' }));
    expect(two.next('connack').reasonCode).toBe(0x97);
    const three = w.client(4, 0);
    await three.send(connectPacket({ clientId: 'three' }));
    expect(three.next('connack').reasonCode).toBe(3);
  });

  it('answers PINGREQ with PINGRESP [MQTT-3.12.4-1]', async () => {
    const w = new World();
    const c = await w.connect();
    await c.send({ type: 'pingreq' });
    expect(c.next('pingresp')).toEqual({ type: 'pingresp' });
  });

  it('refuses a will on an invalid topic (v5 0x90)', async () => {
    const w = new World();
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, will: { topic: 'a/#', payload: text('x'), qos: 0, retain: false } }));
    expect(c.next('connack').reasonCode).toBe(0x90);
  });
});

describe('keepalive', () => {
  it('disconnects a silent client after 1.5x keepalive plus grace (v5 0x8D) [MQTT-3.1.2-24]', async () => {
    const w = new World({ config: { keepaliveGrace: 1000 } });
    const c = await w.connect({ version: 5, keepalive: 10 });
    await w.advance(15_000);
    expect(c.closed).toBe(false);
    await w.advance(999);
    expect(c.closed).toBe(false);
    await w.advance(2);
    expect(c.next('disconnect').reasonCode).toBe(0x8d);
    expect(c.closed).toBe(true);
  });

  it('any packet from the client restarts the keepalive clock', async () => {
    const w = new World({ config: { keepaliveGrace: 0 } });
    const c = await w.connect({ keepalive: 10 });
    await w.advance(14_000);
    await c.send({ type: 'pingreq' });
    c.next('pingresp');
    await w.advance(14_000);
    expect(c.closed).toBe(false);
    await w.advance(1_001);
    expect(c.closed).toBe(true);
  });

  it('keepalive 0 turns the check off', async () => {
    const w = new World();
    const c = await w.connect({ keepalive: 0 });
    await w.advance(10 * 24 * 3600_000);
    expect(c.closed).toBe(false);
  });

  it('caps a v5 keepalive above the maximum with Server Keep Alive [MQTT-3.2.2-21]', async () => {
    const w = new World({ config: { maxKeepalive: 60, keepaliveGrace: 0 } });
    const c = w.client(5);
    await c.send(connectPacket({ version: 5, keepalive: 600 }));
    expect(c.next('connack').properties?.serverKeepAlive).toBe(60);
    await w.advance(90_001);
    expect(c.closed).toBe(true);
  });

  it('refuses a 3.1.1 keepalive above the maximum with return code 2, as mosquitto does', async () => {
    const w = new World({ config: { maxKeepalive: 60 } });
    const c = w.client(4);
    await c.send(connectPacket({ keepalive: 600 }));
    expect(c.next('connack').reasonCode).toBe(2);
  });

  it('closes a connection that sends no CONNECT within the connect timeout', async () => {
    const w = new World({ config: { connectTimeout: 5000 } });
    const c = w.client(4);
    await w.advance(4999);
    expect(c.closed).toBe(false);
    await w.advance(2);
    expect(c.closed).toBe(true);
  });
});
