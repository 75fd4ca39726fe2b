import { describe, expect, it } from 'vitest';
import { sharded, str, text, World } from './harness.ts';
import type { Will } from '../../src/protocol/index.ts';

const will = (extra: Partial<Will> = {}): Will => ({ topic: 'status/dev', payload: text('gone'), qos: 1, retain: false, ...extra });

async function watcher(w: World, version: 4 | 5 = 4) {
  const c = await w.connect({ version, clientId: 'watcher' });
  await c.subscribe('status/#', 2);
  return c;
}

describe('will', () => {
  it('is published when the connection drops [MQTT-3.1.2-8]', async () => {
    const w = new World();
    const watch = await watcher(w);
    const dev = await w.connect({ clientId: 'dev', will: will() });
    await dev.drop();
    const p = watch.next('publish');
    expect(p).toMatchObject({ topic: 'status/dev', qos: 1 });
    expect(str(p.payload)).toBe('gone');
  });

  it('is discarded on a normal DISCONNECT [MQTT-3.1.2-10]', async () => {
    const w = new World();
    const watch = await watcher(w);
    const dev = await w.connect({ clientId: 'dev', will: will() });
    await dev.send({ type: 'disconnect' });
    expect(dev.closed).toBe(true);
    watch.expectNothing();
  });

  it('is published on v5 DISCONNECT 0x04 [MQTT-3.14.4-3]', async () => {
    const w = new World();
    const watch = await watcher(w);
    const dev = await w.connect({ version: 5, clientId: 'dev', will: will() });
    await dev.send({ type: 'disconnect', reasonCode: 0x04 });
    expect(str(watch.next('publish').payload)).toBe('gone');
  });

  it('is published when the server closes the connection for a protocol error', async () => {
    const w = new World();
    const watch = await watcher(w);
    const dev = await w.connect({ clientId: 'dev', will: will() });
    await dev.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    expect(dev.closed).toBe(true);
    expect(watch.next('publish').topic).toBe('status/dev');
  });

  it('is published on keepalive timeout', async () => {
    const w = new World({ config: { keepaliveGrace: 0 } });
    const watch = await watcher(w);
    await w.connect({ clientId: 'dev', keepalive: 2, will: will() });
    await w.advance(3_001);
    expect(watch.next('publish').topic).toBe('status/dev');
  });

  it('is retained when its retain flag is set', async () => {
    const w = new World();
    const dev = await w.connect({ clientId: 'dev', will: will({ retain: true }) });
    await dev.drop();
    const late = await w.connect({ clientId: 'late' });
    await late.subscribe('status/dev');
    expect(late.next('publish').retain).toBe(true);
  });

  it('carries its v5 properties', async () => {
    const w = new World();
    const watch = await watcher(w, 5);
    const dev = await w.connect({
      version: 5, clientId: 'dev',
      will: will({ properties: { contentType: 'text/plain', userProperties: [['k', 'v']], responseTopic: 'r/t' } }),
    });
    await dev.drop();
    expect(watch.next('publish').properties).toMatchObject({
      contentType: 'text/plain', userProperties: [['k', 'v']], responseTopic: 'r/t',
    });
  });

  it('waits for the Will Delay Interval [MQTT-3.1.3-9]', async () => {
    const w = new World();
    const watch = await watcher(w, 5);
    const dev = await w.connect({
      version: 5, clientId: 'dev', properties: { sessionExpiryInterval: 60 },
      will: will({ properties: { willDelayInterval: 5 } }),
    });
    await dev.drop();
    await w.advance(4_999);
    watch.expectNothing();
    await w.advance(2);
    expect(watch.next('publish').topic).toBe('status/dev');
  });

  it('is cancelled when the client returns within the delay [MQTT-3.1.3-9]', async () => {
    const w = new World();
    const watch = await watcher(w, 5);
    const opts = {
      version: 5 as const, clientId: 'dev', clean: false, properties: { sessionExpiryInterval: 60 },
      will: will({ properties: { willDelayInterval: 5 } }),
    };
    (await w.connect(opts)).drop();
    await w.advance(2_000);
    await w.connect({ ...opts, will: undefined });
    await w.advance(10_000);
    watch.expectNothing();
  });

  it('goes out when the session ends before the delay [MQTT-3.1.3-9]', async () => {
    const w = new World();
    const watch = await watcher(w, 5);
    const dev = await w.connect({
      version: 5, clientId: 'dev', properties: { sessionExpiryInterval: 2 },
      will: will({ properties: { willDelayInterval: 100 } }),
    });
    await dev.drop();
    await w.advance(2_001);
    expect(watch.next('publish').topic).toBe('status/dev');
  });

  it('survives a restart while its delay runs', async () => {
    const w = new World();
    const dev = await w.connect({
      version: 5, clientId: 'dev', properties: { sessionExpiryInterval: 60 },
      will: will({ retain: true, properties: { willDelayInterval: 5 } }),
    });
    await dev.drop();
    await w.restart();
    await w.advance(6_000);
    expect(w.retained.get('status/dev')).toBeDefined();
  });

  it('is published for a connection lost in a restart', async () => {
    const w = new World();
    await w.connect({ clientId: 'dev', will: will({ retain: true }) });
    await w.restart();
    expect(str(w.retained.get('status/dev')!.payload)).toBe('gone');
  });

  // one broker's own deadlines: sharded, the client's gateway records them
  it.skipIf(sharded)('keeps the next deadline within willCheckInterval while a connection with a will is open, so a restart wakes the object', async () => {
    const w = new World({ config: { willCheckInterval: 30 } });
    const plain = await w.connect({ clientId: 'plain' });
    expect(w.broker.tick()).toBeUndefined(); // keepalive 0, no will: nothing to wake for
    const start = w.clock.now();
    const dev = await w.connect({ clientId: 'dev', will: will(), keepalive: 0 });
    w.broker.takeDue();
    w.advance(1);
    expect(w.broker.takeDue()).toBe(start + 1 + 30_000); // recorded for the object's alarm at each check
    w.advance(30_000);
    expect(w.broker.tick()).toBe(start + 30_001 + 30_000);
    dev.drop();
    expect(w.broker.tick()).toBeUndefined();
    await plain.send({ type: 'disconnect' });
    const off = new World({ config: { willCheckInterval: 0 } });
    await off.connect({ clientId: 'dev', will: will() });
    expect(off.broker.tick()).toBeUndefined();
  });

  it('is published when a live client is taken over', async () => {
    const w = new World();
    const watch = await watcher(w);
    await w.connect({ clientId: 'dev', will: will() });
    await w.connect({ clientId: 'dev' });
    expect(watch.next('publish').topic).toBe('status/dev');
  });
});
