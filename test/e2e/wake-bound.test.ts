// A wake at the subscription quota, on workerd under `npm start`: a namespace filled to
// MQTT_MAX_SUBSCRIPTIONS with filters of the longest topic allowed (held by persistent sessions
// that are away), the server restarted on that state, one client wakes the object. The wake's
// time and the workerd processes' memory growth are held well under Cloudflare's 30 s of CPU
// and 128 MB per isolate; one subscription more is refused. RSS counts more than the isolate's
// heap (SQLite's pages read, V8's reserved space: 58 MB measured here); the heap alone is held
// to routingBound in test/broker/memory.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/broker/index.ts';
import { routingBound } from '../../src/broker/platform.ts';
import { usage } from '../../bench/lib/proc.ts';
import { connectMqtt, uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

// the defaults: the largest index a wake may load without other settings
const quota = defaultConfig.maxSubscriptions;
const topicLength = defaultConfig.maxTopicLength;
const vars = {};
const perClient = 250;

describe('a wake at the subscription quota', () => {
  let server: BrokerServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it(`loads ${quota} subscriptions of ${topicLength} bytes within its bound, and refuses one more (SUBACK 0x97)`, async () => {
    server = await startBroker({ vars });
    const filter = (k: number, j: number) => `w${j % 16}/${k}/${j}/`.padEnd(topicLength, 'x');
    for (let k = 0; k < quota / perClient; k++) {
      const c = await connectMqtt(server.url, { protocolVersion: 5, clientId: `holder-${k}`, clean: false, properties: { sessionExpiryInterval: 3600 } });
      const granted = await c.subscribeAsync(Array.from({ length: perClient }, (_, j) => filter(k, j)), { qos: 1 });
      expect(granted.every((g) => g.qos === 1)).toBe(true);
      await c.endAsync();
    }
    const { persistTo } = server;
    await new Promise((r) => setTimeout(r, 6_000)); // the alarms due after the last change (meter saves) fire now, not at the restart
    await server.stop();
    server = await startBroker({ vars, persistTo });
    await new Promise((r) => setTimeout(r, 1_000));
    const rss = usage(server.pgid, true).rssBytes;
    const started = Date.now();
    const waker = await connectMqtt(server.url, { protocolVersion: 5, clientId: uniqueId('waker') });
    const refused = await waker.subscribeAsync('one/more', { qos: 0 }).then(() => 'granted', (err: Error) => err.message);
    const wakeMs = Date.now() - started;
    const grown = usage(server.pgid, true).rssBytes - rss;
    console.log(`wake at ${quota} subscriptions of ${topicLength} bytes: ${wakeMs} ms, RSS +${(grown / 1e6).toFixed(1)} MB`
      + ` (bound ${(routingBound({ maxSubscriptions: quota, maxTopicLength: topicLength }) / 1e6).toFixed(1)} MB)`);
    expect(refused).toMatch(/Quota exceeded/); // SUBACK 0x97
    expect(wakeMs).toBeLessThan(10_000); // of 30 s CPU per event, on a shared machine
    expect(grown).toBeLessThan(96 * 1024 * 1024); // three quarters of the 128 MB an isolate has, RSS and all
    await waker.endAsync();
  }, 180_000);
});
