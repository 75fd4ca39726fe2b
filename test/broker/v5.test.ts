import { describe, expect, it } from 'vitest';
import { connectPacket, str, text, World } from './harness.ts';

describe('MQTT 5 features', () => {
  it('forwards the remaining Message Expiry Interval and drops expired queued messages [MQTT-3.3.2-5, -6]', async () => {
    const w = new World();
    const c = await w.connect({ version: 5, clientId: 'p', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await c.subscribe('t', 1);
    await c.drop();
    const pub = await w.connect({ version: 5, clientId: 'pub' });
    await pub.publish('t', 'short', { qos: 1, properties: { messageExpiryInterval: 5 } });
    await pub.publish('t', 'long', { qos: 1, packetId: 2, properties: { messageExpiryInterval: 100 } });
    await w.advance(10_000);
    const back = w.client(5);
    await back.send(connectPacket({ version: 5, clientId: 'p', clean: false, properties: { sessionExpiryInterval: 3600 } }));
    back.next('connack');
    const p = back.next('publish');
    expect(str(p.payload)).toBe('long');
    expect(p.properties?.messageExpiryInterval).toBe(90);
    back.expectNothing();
  });

  it('resolves topic aliases set by the client [MQTT-3.3.2-12]', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('long/topic/name');
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.publish('long/topic/name', 'one', { properties: { topicAlias: 1 } });
    await c.publish('', 'two', { properties: { topicAlias: 1 } });
    expect([sub.next('publish'), sub.next('publish')].map((p) => [p.topic, str(p.payload)])).toEqual([
      ['long/topic/name', 'one'], ['long/topic/name', 'two'],
    ]);
  });

  it('refuses a topic alias above Topic Alias Maximum with DISCONNECT 0x94 [MQTT-3.3.2-10]', async () => {
    const w = new World({ config: { topicAliasMaximum: 2 } });
    const c = await w.connect({ version: 5 });
    await c.publish('t', 'x', { properties: { topicAlias: 3 } });
    expect(c.next('disconnect').reasonCode).toBe(0x94);
  });

  it('treats an unknown alias with an empty topic as a protocol error', async () => {
    const w = new World();
    const c = await w.connect({ version: 5 });
    await c.publish('', 'x', { properties: { topicAlias: 1 } });
    expect(c.next('disconnect').reasonCode).toBe(0x82);
  });

  it('keeps QoS 1 sends within the client\'s Receive Maximum [MQTT-3.3.4-7]', async () => {
    const w = new World();
    const sub = await w.connect({ version: 5, clientId: 'sub', properties: { receiveMaximum: 1 } });
    await sub.subscribe('t', 1);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'a', { qos: 1, packetId: 1 });
    await pub.publish('t', 'b', { qos: 1, packetId: 2 });
    const first = sub.next('publish');
    sub.expectNothing();
    await sub.send({ type: 'puback', packetId: first.packetId! });
    expect(str(sub.next('publish').payload)).toBe('b');
  });

  it('disconnects a client that exceeds the server\'s Receive Maximum with 0x93 [MQTT-3.3.4-9]', async () => {
    const w = new World({ config: { receiveMaximum: 2 } });
    const c = await w.connect({ version: 5 });
    for (let id = 1; id <= 2; id++) {
      await c.publish('t', 'x', { qos: 2, packetId: id });
      c.next('pubrec');
    }
    await c.publish('t', 'x', { qos: 2, packetId: 3 });
    expect(c.next('disconnect').reasonCode).toBe(0x93);
  });

  it('holds a 3.1.1 client, which is never told Receive Maximum, to no QoS 2 window', async () => {
    const w = new World({ config: { receiveMaximum: 2 } });
    const c = await w.connect({ version: 4, clientId: 'old' });
    for (let id = 1; id <= 10; id++) await c.publish('t', 'x', { qos: 2, packetId: id });
    expect(c.received.map((p) => p.type)).toEqual(Array(10).fill('pubrec'));
    expect(c.closed).toBe(false);
  });

  it('never sends a client a packet larger than its Maximum Packet Size [MQTT-3.1.2-25]', async () => {
    const drops: string[] = [];
    const w = new World({ hooks: [{ onDrop: (_id, why) => void drops.push(why) }] });
    const sub = await w.connect({ version: 5, clientId: 'sub', properties: { maximumPacketSize: 64 } });
    await sub.subscribe('t', 1);
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('t', 'x'.repeat(100), { qos: 1, packetId: 1 });
    await pub.publish('t', 'small', { qos: 1, packetId: 2 });
    expect(str(sub.next('publish').payload)).toBe('small');
    sub.expectNothing();
    expect(drops).toEqual(['too-large']);
  });

  it('refuses a packet larger than the server\'s Maximum Packet Size with 0x95', async () => {
    const w = new World({ config: { maxPacketSize: 256 } });
    const c = await w.connect({ version: 5 });
    await c.publish('t', 'x'.repeat(300));
    expect(c.next('disconnect').reasonCode).toBe(0x95);
    expect(c.closed).toBe(true);
  });

  it('passes user properties, response topic, correlation data and content type through [MQTT-3.3.2-…]', async () => {
    const w = new World();
    const sub = await w.connect({ version: 5, clientId: 'sub' });
    await sub.subscribe('req');
    const pub = await w.connect({ version: 5, clientId: 'pub' });
    const properties = {
      userProperties: [['a', '1'], ['a', '2'], ['b', '3']] as Array<[string, string]>,
      responseTopic: 'res/1', correlationData: new Uint8Array([1, 2, 3]), contentType: 'application/json',
      payloadFormatIndicator: 1,
    };
    await pub.publish('req', '{}', { properties });
    expect(sub.next('publish').properties).toEqual(properties);
  });

  it('strips v5 properties for 3.1.1 receivers', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t');
    const pub = await w.connect({ version: 5, clientId: 'pub' });
    await pub.publish('t', 'x', { properties: { contentType: 'text/plain' } });
    expect(sub.next('publish').properties).toBeUndefined();
  });

  it('answers a payload that is not UTF-8 despite its format indicator with 0x99 [MQTT-3.3.2-4]', async () => {
    const w = new World();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('t');
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.send({
      type: 'publish', topic: 't', payload: new Uint8Array([0xff, 0xfe]), qos: 1, packetId: 1, retain: false, dup: false,
      properties: { payloadFormatIndicator: 1 },
    });
    expect(c.next('puback').reasonCode).toBe(0x99);
    sub.expectNothing();
  });

  it('omits the Reason String when the client asks for no problem information [MQTT-3.1.2-29]', async () => {
    const w = new World();
    const loud = await w.connect({ version: 5, clientId: 'loud' });
    await loud.send({ type: 'publish', topic: 'a/#', payload: text('x'), qos: 0, retain: false, dup: false });
    expect(loud.next('disconnect').properties?.reasonString).toBeTruthy();
    const quiet = await w.connect({ version: 5, clientId: 'quiet', properties: { requestProblemInformation: 0 } });
    await quiet.send({ type: 'publish', topic: 'a/#', payload: text('x'), qos: 0, retain: false, dup: false });
    expect(quiet.next('disconnect').properties?.reasonString).toBeUndefined();
  });

  it('refuses AUTH when no authentication method is configured', async () => {
    const w = new World();
    const c = await w.connect({ version: 5 });
    await c.send({ type: 'auth', reasonCode: 0x19 });
    expect(c.next('disconnect').reasonCode).toBe(0x82);
  });

  it('authorization hooks refuse publishes (v5 0x87) and subscriptions (0x87) and nothing reaches anyone', async () => {
    const w = new World({ hooks: [{
      authorizePublish: (_c, p) => (p.topic.startsWith('secret') ? 0x87 : undefined),
      authorizeSubscribe: (_c, s) => (s.topicFilter.startsWith('secret') ? 0x87 : undefined),
    }] });
    const spy = await w.connect({ version: 5, clientId: 'spy' });
    expect(await spy.subscribe('secret/#')).toEqual([0x87]);
    const all = await w.connect({ version: 5, clientId: 'all' });
    await all.subscribe('#');
    const c = await w.connect({ version: 5, clientId: 'c' });
    await c.publish('secret/x', 'x', { qos: 1 });
    expect(c.next('puback').reasonCode).toBe(0x87);
    all.expectNothing();
  });
});
