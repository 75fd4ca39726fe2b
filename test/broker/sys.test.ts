import { describe, expect, it } from 'vitest';
import { ReasonCode, type Packet, type PublishPacket } from '../../src/protocol/index.ts';
import { sysTable } from '../../src/broker/observe/sys-topics.ts';
import { brokerVersion } from '../../src/broker/version.ts';
import { sharded, str, World } from './harness.ts';
import pkg from '../../package.json' with { type: 'json' };

const figures = (messages: Array<{ topic: string; payload: Uint8Array }>) =>
  Object.fromEntries(messages.map((m) => [m.topic.replace('$SYS/broker/', ''), str(m.payload)]));

const publishes = (c: { received: Packet[] }): PublishPacket[] =>
  c.received.splice(0).filter((p): p is PublishPacket => p.type === 'publish');

describe('$SYS topics', () => {
  // sharded: a gateway's `retained messages/count` counts its own store; the namespace's retained messages are on the shards
  it.skipIf(sharded)("publish Mosquitto's figures as retained messages to a new subscriber", async () => {
    const w = new World({ observe: true });
    const pub = await w.connect({ clientId: 'pub' });
    await pub.publish('keep', 'me', { retain: true });
    const sub = await w.connect({ clientId: 'sub', clean: false });
    await sub.subscribe('$SYS/#');
    const got = publishes(sub);
    expect(got.every((p) => p.retain)).toBe(true);
    const f = figures(got);
    expect(Object.keys(f).length).toBe(sysTable.length);
    expect(f).toMatchObject({
      version: `edge-mqtt version ${brokerVersion}`, uptime: '0 seconds', 'clients/connected': '2', 'clients/disconnected': '0',
      'clients/total': '2', 'clients/maximum': '2', 'publish/messages/received': '1', 'retained messages/count': '1',
      'subscriptions/count': '1', 'store/messages/count': '0',
    });
  });

  it('are not matched by a leading wildcard [MQTT-4.7.2-1]', async () => {
    const w = new World({ observe: true });
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('#');
    sub.expectNothing();
    w.observed!.sys.refresh();
    w.broker.flush();
    sub.expectNothing();
  });

  it('send live subscribers only changed figures, at most once per interval, and only when refreshed', async () => {
    const w = new World({ observe: true, config: { sysInterval: 10 } });
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('$SYS/broker/clients/connected');
    expect(str(sub.next('publish').payload)).toBe('1');
    const { sys } = w.observed!;
    sys.refresh();
    w.broker.flush();
    expect(sub.next('publish')).toMatchObject({ topic: '$SYS/broker/clients/connected', retain: false });
    await w.connect({ clientId: 'second' });
    sys.refresh(); // within the interval: nothing
    w.broker.flush();
    sub.expectNothing();
    w.clock.advance(10_000);
    sys.refresh();
    w.broker.flush();
    expect(str(sub.next('publish').payload)).toBe('2');
    w.clock.advance(10_000);
    sys.refresh(); // unchanged: nothing
    w.broker.flush();
    sub.expectNothing();
  });

  it('count uptime from the first start of the namespace, across restarts', async () => {
    const w = new World({ observe: true });
    w.clock.advance(90_000);
    await w.restart();
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('$SYS/broker/uptime');
    expect(str(sub.next('publish').payload)).toBe('90 seconds');
  });

  it('refuse client publishes into $SYS and store nothing there', async () => {
    const w = new World({ observe: true });
    const c = await w.connect({ clientId: 'c', version: 5 });
    await c.publish('$SYS/broker/version', 'fake', { qos: 1, retain: true });
    expect(c.next('puback').reasonCode).toBe(ReasonCode.NotAuthorized);
    expect(w.retained.count()).toBe(0);
  });

  it('are off with sysInterval 0', async () => {
    const w = new World({ observe: true, config: { sysInterval: 0 } });
    const sub = await w.connect({ clientId: 'sub' });
    await sub.subscribe('$SYS/#');
    w.observed!.sys.refresh();
    w.broker.flush();
    sub.expectNothing();
  });

  it('name the version package.json names', () => {
    expect(brokerVersion).toBe(pkg.version);
  });
});
