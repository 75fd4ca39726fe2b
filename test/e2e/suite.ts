// The end-to-end suite: real MQTT.js clients (3.1.1 and 5) and raw WebSockets against the broker
// on workerd. A function of how the server is started, so every topology runs the same suite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closed, connectMqtt, inbox, openMqtt, RawClient, uniqueId } from './clients.ts';
import type { BrokerServer } from './server.ts';
import type { Packet, Properties } from '../../src/protocol/index.ts';

/** Limits the suite's server is started with (wrangler vars). */
export const suiteVars = {
  MQTT_CONNECT_TIMEOUT: '1500',
  MQTT_KEEPALIVE_GRACE: '0',
  MQTT_MAX_QUEUED_MESSAGES: '20',
  MQTT_MAX_PACKET_SIZE: '65536',
};

/**
 * workerd evicts an object whose sockets have been idle about 10 s, keeping them open; the alarm
 * that saves the counters (a second after a lone message) counts as activity.
 */
const idleEviction = 15_000;

const text = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function runBrokerSuite(name: string, start: () => Promise<BrokerServer>): void {
  describe(name, () => {
    let server: BrokerServer;
    let url = '';
    beforeAll(async () => {
      server = await start();
      url = server.url;
    }, 90_000);
    afterAll(async () => server?.stop());

    describe('the wire', () => {
      it('answers a plain GET with a short human text', async () => {
        const res = await fetch(`http://127.0.0.1:${server.port}/mqtt`);
        expect(res.status).toBe(426);
        expect(await res.text()).toMatch(/MQTT over WebSocket/);
      });

      it('accepts upgrades on / and /mqtt and echoes one offered subprotocol', async () => {
        for (const [path, offered, echoed] of [
          ['/mqtt', ['mqtt'], 'mqtt'], ['/', ['mqttv3.1'], 'mqttv3.1'], ['/mqtt', ['foo', 'mqttv5'], 'mqttv5'], ['/mqtt', [], ''],
        ] as const) {
          const raw = await RawClient.open(`ws://127.0.0.1:${server.port}${path}`, 4, [...offered]);
          expect(raw.ws.protocol).toBe(echoed);
          raw.close();
        }
      });

      it('reassembles a packet split over several messages and answers packets coalesced in one [MQTT-6.0.0-2]', async () => {
        const raw = await RawClient.open(url, 4);
        const { encode } = await import('../../src/protocol/index.ts');
        const connect = encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: uniqueId() }, 4);
        for (const part of [connect.subarray(0, 1), connect.subarray(1, 5), connect.subarray(5)]) raw.sendBytes(part.slice());
        expect(await raw.next()).toMatchObject({ type: 'connack', reasonCode: 0 });
        const topic = uniqueId('split');
        const sub = encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 0 }] }, 4);
        const pub = encode({ type: 'publish', topic, payload: text('hi'), qos: 0, retain: false, dup: false }, 4);
        const both = new Uint8Array(sub.length + pub.length);
        both.set(sub);
        both.set(pub, sub.length);
        raw.sendBytes(both);
        expect(await raw.next()).toMatchObject({ type: 'suback', reasonCodes: [0] });
        expect(await raw.next()).toMatchObject({ type: 'publish', topic });
        raw.close();
      });

      it('sends the packets one event produces in one WebSocket message', async () => {
        const base = uniqueId('coalesce');
        const pub = await connectMqtt(url, { protocolVersion: 4 });
        for (const leaf of ['a', 'b', 'c']) await pub.publishAsync(`${base}/${leaf}`, leaf, { qos: 1, retain: true });
        const { raw } = await RawClient.connect(url, 4);
        const before = raw.frames;
        raw.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: `${base}/#`, qos: 1 }] });
        const packets = [await raw.next(), await raw.next(), await raw.next(), await raw.next()];
        expect(packets.map((p) => p.type)).toEqual(['suback', 'publish', 'publish', 'publish']);
        expect(raw.frames - before).toBe(1);
        raw.close();
        await pub.endAsync();
      });

      it('refuses an unsupported protocol version: 3.x return code 1, v5 reason 0x84 [MQTT-3.1.2-2]', async () => {
        const raw = await RawClient.open(url, 4);
        // CONNECT, protocol name MQTT, level 9
        raw.sendBytes(new Uint8Array([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x09, 0x02, 0x00, 0x00, 0x00, 0x01, 0x78]));
        expect(await raw.next()).toMatchObject({ type: 'connack', reasonCode: 1 });
        expect(await raw.closedWithin()).toBe(true);
        const v5 = await RawClient.open(url, 5);
        // MQTT 5 CONNECT whose protocol name is wrong for its level
        v5.sendBytes(new Uint8Array([0x10, 0x0e, 0x00, 0x04, 0x4d, 0x51, 0x49, 0x58, 0x05, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x78]));
        expect(await v5.next()).toMatchObject({ type: 'connack', reasonCode: 0x84 });
        expect(await v5.closedWithin()).toBe(true);
      });

      it('closes a connection that sends a text frame [MQTT-6.0.0-1]', async () => {
        const raw = await RawClient.open(url, 4);
        raw.sendBytes('hello');
        expect(await raw.closedWithin()).toBe(true);
      });

      it('closes a v5 connection that sends a malformed packet with DISCONNECT 0x81, others unharmed', async () => {
        const bystander = await connectMqtt(url, { protocolVersion: 5 });
        const raw = await RawClient.open(url, 5);
        raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: uniqueId() });
        expect(await raw.next()).toMatchObject({ type: 'connack', reasonCode: 0 });
        raw.sendBytes(new Uint8Array([0x30, 0x03, 0x00, 0x05, 0x61])); // PUBLISH: topic length 5, 1 byte present
        expect(await raw.next()).toMatchObject({ type: 'disconnect', reasonCode: 0x81 });
        expect(await raw.closedWithin()).toBe(true);
        expect(bystander.connected).toBe(true);
        await bystander.endAsync();
      });

      it('closes a 3.1.1 connection that sends a malformed packet, without a DISCONNECT', async () => {
        const raw = await RawClient.open(url, 4);
        raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: uniqueId() });
        await raw.next();
        raw.sendBytes(new Uint8Array([0x82, 0x02, 0x00, 0x01])); // SUBSCRIBE with no topic filter
        expect(await raw.closedWithin()).toBe(true);
        expect(raw.packets).toEqual([]);
      });

      it('closes a connection that sends no CONNECT in time', async () => {
        const raw = await RawClient.open(url, 4);
        expect(await raw.closedWithin(6_000)).toBe(true);
      });

      it('disconnects a silent v5 client after 1.5x keepalive with 0x8D [MQTT-3.1.2-24]', async () => {
        const raw = await RawClient.open(url, 5);
        raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 1, clientId: uniqueId() });
        await raw.next();
        const started = Date.now();
        expect(await raw.next(8_000)).toMatchObject({ type: 'disconnect', reasonCode: 0x8d });
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
      });

      it('keeps a live session working across hibernation: the object is evicted when idle and wakes on the next message', async () => {
        const topic = uniqueId('hibernate');
        const sub = await connectMqtt(url, { protocolVersion: 5, keepalive: 0 });
        await sub.subscribeAsync(topic, { qos: 1 });
        const got = inbox(sub);
        const pub = await connectMqtt(url, { protocolVersion: 4, keepalive: 0 });
        await pub.publishAsync(topic, 'before', { qos: 1 });
        expect((await got.next()).payload).toBe('before');
        const woke = () => server.logs.join('').match(/woke from hibernation/g)?.length ?? 0;
        const wakes = woke();
        await sleep(idleEviction);
        await pub.publishAsync(topic, 'after', { qos: 1 });
        expect((await got.next()).payload).toBe('after');
        // the log line travels workerd → wrangler → this process, so it may trail the message
        for (let i = 0; i < 200 && woke() <= wakes; i++) await sleep(50);
        expect(woke()).toBeGreaterThan(wakes);
        await Promise.all([sub.endAsync(), pub.endAsync()]);
      }, 30_000);

      it('loses nothing of clean sessions across hibernation while their sockets are open: unacknowledged deliveries, queues, received QoS 2 ids [MQTT-3.1.2-6]', async () => {
        const topic = uniqueId('clean-hib');
        const subscribe = async (version: 4 | 5, qos: 1 | 2, properties?: Properties) => {
          const { raw } = await RawClient.connect(url, version, { properties });
          raw.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: `${topic}/${raw.version}/${qos}`, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
          expect(await raw.next()).toMatchObject({ type: 'suback', reasonCodes: [qos] });
          return raw;
        };
        // 3.1.1: a window of 32 (MQTT_MAX_INFLIGHT) and 8 queued; v5: Receive Maximum 10 and 15 queued
        const subs = [
          { raw: await subscribe(4, 1), qos: 1, count: 40 }, { raw: await subscribe(4, 2), qos: 2, count: 40 },
          { raw: await subscribe(5, 1, { receiveMaximum: 10 }), qos: 1, count: 25 },
        ];
        const { raw: pub } = await RawClient.connect(url, 4);
        let id = 0;
        for (const { raw, qos, count } of subs) {
          for (let i = 0; i < count; i++) pub.send({ type: 'publish', topic: `${topic}/${raw.version}/${qos}`, payload: text(String(i)), qos: 1, packetId: ++id, retain: false, dup: false });
        }
        for (let i = 1; i <= id; i++) expect(await pub.next(10_000)).toMatchObject({ type: 'puback', packetId: i });
        // a v5 publisher holds 64 QoS 2 messages received and not yet released
        const { raw: q2 } = await RawClient.connect(url, 5);
        for (let i = 1; i <= 64; i++) q2.send({ type: 'publish', topic: `${topic}/none`, payload: text('x'), qos: 2, packetId: i, retain: false, dup: false });
        for (let i = 1; i <= 64; i++) expect(await q2.next()).toMatchObject({ type: 'pubrec', packetId: i });
        for (const s of subs) for (let i = 0; i < 200 && s.raw.packets.length < Math.min(s.count, s.raw.version === 5 ? 10 : 32); i++) await sleep(25);

        const woke = () => server.logs.join('').match(/woke from hibernation/g)?.length ?? 0;
        const wakes = woke();
        await sleep(idleEviction);

        for (let i = 1; i <= 64; i++) q2.send({ type: 'pubrel', packetId: i });
        for (let i = 1; i <= 64; i++) expect(await q2.next()).toEqual({ type: 'pubcomp', packetId: i }); // not 0x92
        q2.send({ type: 'publish', topic: `${topic}/none`, payload: text('x'), qos: 2, packetId: 65, retain: false, dup: false });
        expect(await q2.next()).toEqual({ type: 'pubrec', packetId: 65, reasonCode: 0x10 }); // not DISCONNECT 0x93
        for (const s of subs) {
          const got: string[] = [];
          const answer = (p: Packet) => {
            if (p.type === 'publish') {
              got.push(new TextDecoder().decode(p.payload));
              s.raw.send({ type: p.qos === 1 ? 'puback' : 'pubrec', packetId: p.packetId! });
            } else if (p.type === 'pubrel') s.raw.send({ type: 'pubcomp', packetId: p.packetId });
          };
          s.raw.packets.splice(0).forEach(answer);
          s.raw.onPacket = answer;
          for (let i = 0; i < 400 && got.length < s.count; i++) await sleep(25);
          await sleep(200); // nothing more, nothing twice
          expect(got).toEqual(Array.from({ length: s.count }, (_, i) => String(i)));
        }
        for (let i = 0; i < 200 && woke() <= wakes; i++) await sleep(50);
        expect(woke()).toBeGreaterThan(wakes);
        for (const c of [pub, q2, ...subs.map((s) => s.raw)]) c.close();
      }, 60_000);

      it('keeps namespaces apart', async () => {
        const a = await connectMqtt(`ws://127.0.0.1:${server.port}/mqtt/alpha`);
        const b = await connectMqtt(`ws://127.0.0.1:${server.port}/mqtt/beta`);
        await b.subscribeAsync('ns/test');
        const bIn = inbox(b);
        await a.publishAsync('ns/test', 'only alpha');
        await bIn.quiet(500);
        await Promise.all([a.endAsync(), b.endAsync()]);
      });
    });

    for (const protocolVersion of [4, 5] as const) {
      describe(`MQTT.js protocol version ${protocolVersion}`, () => {
        it('publishes and subscribes at QoS 0, 1 and 2', async () => {
          const topic = uniqueId('qos');
          const sub = await connectMqtt(url, { protocolVersion });
          await sub.subscribeAsync(topic, { qos: 2 });
          const got = inbox(sub);
          const pub = await connectMqtt(url, { protocolVersion });
          for (const qos of [0, 1, 2] as const) await pub.publishAsync(topic, `q${qos}`, { qos });
          const received = [await got.next(), await got.next(), await got.next()];
          expect(received.map((r) => [r.payload, r.packet.qos])).toEqual([['q0', 0], ['q1', 1], ['q2', 2]]);
          await Promise.all([sub.endAsync(), pub.endAsync()]);
        });

        it('downgrades to the granted QoS and keeps a publisher\'s order', async () => {
          const topic = uniqueId('order');
          const sub = await connectMqtt(url, { protocolVersion });
          await sub.subscribeAsync(topic, { qos: 1 });
          const got = inbox(sub);
          const pub = await connectMqtt(url, { protocolVersion });
          await Promise.all(Array.from({ length: 30 }, (_, i) => pub.publishAsync(topic, String(i), { qos: 2 })));
          const received = [];
          for (let i = 0; i < 30; i++) received.push(await got.next());
          expect(received.map((r) => r.payload)).toEqual(Array.from({ length: 30 }, (_, i) => String(i)));
          expect(new Set(received.map((r) => r.packet.qos))).toEqual(new Set([1]));
          await Promise.all([sub.endAsync(), pub.endAsync()]);
        });

        it('matches + and # and keeps $-topics from leading wildcards', async () => {
          const base = uniqueId('wild');
          const sub = await connectMqtt(url, { protocolVersion });
          await sub.subscribeAsync([`${base}/+/temp`, '#']);
          const got = inbox(sub);
          const pub = await connectMqtt(url, { protocolVersion });
          await pub.publishAsync(`${base}/kitchen/temp`, '21', { qos: 1 });
          await pub.publishAsync(`$${base}/x`, 'hidden', { qos: 1 });
          const first = await got.next();
          expect(first.topic).toBe(`${base}/kitchen/temp`);
          await sleep(300);
          expect(got.items.filter((m) => m.topic.startsWith('$'))).toEqual([]);
          await Promise.all([sub.endAsync(), pub.endAsync()]);
        });

        it('stores, replaces and clears retained messages, delivered on wildcard subscribe', async () => {
          const base = uniqueId('ret');
          const pub = await connectMqtt(url, { protocolVersion });
          await pub.publishAsync(`${base}/a`, 'one', { retain: true, qos: 1 });
          await pub.publishAsync(`${base}/a`, 'two', { retain: true, qos: 1 });
          await pub.publishAsync(`${base}/b`, 'gone', { retain: true, qos: 1 });
          await pub.publishAsync(`${base}/b`, '', { retain: true, qos: 1 });
          const sub = await connectMqtt(url, { protocolVersion });
          const got = inbox(sub);
          await sub.subscribeAsync(`${base}/#`, { qos: 1 });
          const m = await got.next();
          expect([m.topic, m.payload, m.packet.retain]).toEqual([`${base}/a`, 'two', true]);
          await got.quiet();
          await Promise.all([sub.endAsync(), pub.endAsync()]);
        });

        it('publishes the will on an abnormal disconnect, not on a normal one', async () => {
          const topic = uniqueId('will');
          const watch = await connectMqtt(url, { protocolVersion });
          await watch.subscribeAsync(topic, { qos: 1 });
          const got = inbox(watch);
          const polite = await connectMqtt(url, { protocolVersion, will: { topic, payload: Buffer.from('polite'), qos: 1, retain: false } });
          await polite.endAsync();
          const rude = await connectMqtt(url, { protocolVersion, will: { topic, payload: Buffer.from('rude'), qos: 1, retain: false } });
          (rude as unknown as { stream: { destroy(): void } }).stream.destroy();
          expect((await got.next()).payload).toBe('rude');
          await got.quiet();
          await watch.endAsync();
        });

        it('keeps a persistent session: subscriptions and QoS 1 messages queued while away, session present', async () => {
          const topic = uniqueId('persist');
          const clientId = uniqueId('p');
          const opts = protocolVersion === 5
            ? { protocolVersion, clientId, clean: false, properties: { sessionExpiryInterval: 300 } }
            : { protocolVersion, clientId, clean: false };
          const first = await connectMqtt(url, opts);
          await first.subscribeAsync(topic, { qos: 1 });
          await first.endAsync();
          const pub = await connectMqtt(url, { protocolVersion });
          for (let i = 0; i < 3; i++) await pub.publishAsync(topic, `m${i}`, { qos: 1 });
          await pub.publishAsync(topic, 'q0', { qos: 0 });
          const back = openMqtt(url, opts);
          const got = back.got;
          const connack = await back.connack;
          expect(connack.sessionPresent).toBe(true);
          expect([(await got.next()).payload, (await got.next()).payload, (await got.next()).payload]).toEqual(['m0', 'm1', 'm2']);
          await got.quiet();
          await Promise.all([back.client.endAsync(), pub.endAsync()]);
        });

        it('accepts an empty client id only with a clean session [MQTT-3.1.3-7, -8]', async () => {
          const clean = await RawClient.connect(url, protocolVersion, { clientId: '', clean: true });
          expect(clean.connack).toMatchObject({ type: 'connack', reasonCode: 0 });
          clean.raw.close();
          if (protocolVersion === 5) return; // v5 assigns an id either way
          const kept = await RawClient.connect(url, protocolVersion, { clientId: '', clean: false });
          expect(kept.connack).toMatchObject({ type: 'connack', reasonCode: 2 });
          expect(await kept.raw.closedWithin()).toBe(true);
        });

        it('takes over a live client id', async () => {
          const clientId = uniqueId('dup');
          const old = await connectMqtt(url, { protocolVersion, clientId });
          const reasons: number[] = [];
          old.on('disconnect', (p) => reasons.push(p.reasonCode ?? -1));
          const gone = closed(old);
          const fresh = await connectMqtt(url, { protocolVersion, clientId });
          await gone;
          if (protocolVersion === 5) expect(reasons).toEqual([0x8e]);
          expect(fresh.connected).toBe(true);
          await fresh.endAsync();
        });
      });
    }

    describe('MQTT 5 specifics with MQTT.js', () => {
      it('assigns a client id for an empty one and answers Request Response Information [MQTT-3.2.2-16]', async () => {
        const { raw, connack } = await RawClient.connect(url, 5, { clientId: '', properties: { requestResponseInformation: 1 } });
        expect(connack).toMatchObject({ type: 'connack', reasonCode: 0 });
        const { assignedClientIdentifier: id, responseInformation } = (connack as { properties: Properties }).properties;
        expect(id).toMatch(/^auto-/);
        expect(responseInformation).toBe(`response/${id}/`);
        raw.close();
        const mqttjs = await connectMqtt(url, { protocolVersion: 5, clientId: '' });
        expect(mqttjs.connected).toBe(true);
        await mqttjs.endAsync();
      });

      it('shared subscriptions spread messages across the group', async () => {
        const topic = uniqueId('jobs');
        const a = await connectMqtt(url, { protocolVersion: 5 });
        const b = await connectMqtt(url, { protocolVersion: 4 });
        await a.subscribeAsync(`$share/workers/${topic}`, { qos: 1 });
        await b.subscribeAsync(`$share/workers/${topic}`, { qos: 1 });
        const [ia, ib] = [inbox(a), inbox(b)];
        const pub = await connectMqtt(url, { protocolVersion: 5 });
        for (let i = 0; i < 10; i++) await pub.publishAsync(topic, String(i), { qos: 1 });
        for (let i = 0; i < 200 && ia.items.length + ib.items.length < 10; i++) await sleep(50);
        await sleep(300); // a message given to both members would arrive meanwhile
        expect(ia.items.length + ib.items.length).toBe(10);
        expect(Math.min(ia.items.length, ib.items.length)).toBeGreaterThan(0);
        await Promise.all([a.endAsync(), b.endAsync(), pub.endAsync()]);
      });

      it('subscription identifiers, No Local, Retain As Published and Retain Handling', async () => {
        const base = uniqueId('opts');
        const c = await connectMqtt(url, { protocolVersion: 5 });
        const got = inbox(c);
        await c.publishAsync(`${base}/r`, 'kept', { retain: true, qos: 1 });
        await c.subscribeAsync(`${base}/r`, { qos: 1, rh: 2, properties: { subscriptionIdentifier: 7 } });
        await got.quiet();
        await c.subscribeAsync(`${base}/own`, { qos: 0, nl: true });
        await c.publishAsync(`${base}/own`, 'mine');
        await c.subscribeAsync(`${base}/rap`, { qos: 0, rap: true });
        await c.publishAsync(`${base}/rap`, 'flag', { retain: true });
        const rap = await got.next();
        expect([rap.topic, rap.packet.retain]).toEqual([`${base}/rap`, true]);
        await c.publishAsync(`${base}/r`, 'live', { qos: 1 });
        const live = await got.next();
        expect(live.packet.properties?.subscriptionIdentifier).toEqual(7);
        expect(got.items.some((m) => m.payload === 'mine')).toBe(false);
        await c.endAsync();
      });

      it('refuses invalid filters with SUBACK 0x8F and answers UNSUBACK codes', async () => {
        // MQTT.js refuses to send an invalid filter, so a raw client does
        const raw = await RawClient.open(url, 5);
        raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: uniqueId() });
        await raw.next();
        const options = { noLocal: false, retainAsPublished: false, retainHandling: 0 } as const;
        raw.send({ type: 'subscribe', packetId: 1, subscriptions: [
          { topicFilter: 'bad/#/filter', qos: 0, ...options }, { topicFilter: 'good/+', qos: 1, ...options },
          { topicFilter: '$share/g+/x', qos: 1, ...options },
        ] });
        expect(await raw.next()).toMatchObject({ type: 'suback', packetId: 1, reasonCodes: [0x8f, 1, 0x8f] });
        raw.send({ type: 'unsubscribe', packetId: 2, topicFilters: ['good/+', 'never/subscribed'] });
        expect(await raw.next()).toMatchObject({ type: 'unsuback', packetId: 2, reasonCodes: [0x00, 0x11] });
        raw.close();
      });

      it('forwards message expiry, user properties, response topic, correlation data and content type', async () => {
        const topic = uniqueId('props');
        const sub = await connectMqtt(url, { protocolVersion: 5 });
        await sub.subscribeAsync(topic);
        const got = inbox(sub);
        const pub = await connectMqtt(url, { protocolVersion: 5 });
        await pub.publishAsync(topic, '{}', { properties: {
          messageExpiryInterval: 60, userProperties: { a: '1' }, responseTopic: 'reply/here',
          correlationData: Buffer.from([1, 2]), contentType: 'application/json', payloadFormatIndicator: true,
        } });
        const p = (await got.next()).packet.properties!;
        expect(p.messageExpiryInterval).toBeGreaterThan(55);
        expect(p.userProperties).toEqual({ a: '1' });
        expect([p.responseTopic, [...p.correlationData!], p.contentType]).toEqual(['reply/here', [1, 2], 'application/json']);
        await Promise.all([sub.endAsync(), pub.endAsync()]);
      });

      it('resolves topic aliases from the client', async () => {
        const topic = uniqueId('alias');
        const sub = await connectMqtt(url, { protocolVersion: 5 });
        await sub.subscribeAsync(topic);
        const got = inbox(sub);
        const pub = await connectMqtt(url, { protocolVersion: 5 });
        await pub.publishAsync(topic, 'one', { properties: { topicAlias: 1 } });
        await pub.publishAsync('', 'two', { properties: { topicAlias: 1 } });
        expect([(await got.next()).topic, (await got.next()).topic]).toEqual([topic, topic]);
        await Promise.all([sub.endAsync(), pub.endAsync()]);
      });

      it('answers 0x99 for a payload that is not UTF-8 despite its format indicator', async () => {
        const raw = await RawClient.open(url, 5);
        raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: uniqueId() });
        await raw.next();
        raw.send({ type: 'publish', topic: 'x', payload: new Uint8Array([0xc3]), qos: 1, packetId: 1, retain: false, dup: false, properties: { payloadFormatIndicator: 1 } });
        expect(await raw.next()).toMatchObject({ type: 'puback', reasonCode: 0x99 });
        raw.close();
      });

      it('respects the client\'s Receive Maximum and Maximum Packet Size', async () => {
        const topic = uniqueId('flow');
        const raw = await RawClient.open(url, 5);
        raw.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: uniqueId(),
          properties: { receiveMaximum: 1, maximumPacketSize: 100 } });
        await raw.next();
        raw.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 1 }] });
        await raw.next();
        const pub = await connectMqtt(url, { protocolVersion: 5 });
        await pub.publishAsync(topic, 'x'.repeat(200), { qos: 1 });
        for (const m of ['a', 'b']) await pub.publishAsync(topic, m, { qos: 1 });
        const first = await raw.next();
        expect(first).toMatchObject({ type: 'publish', qos: 1 });
        await sleep(300);
        expect(raw.packets).toEqual([]);
        raw.send({ type: 'puback', packetId: (first as { packetId: number }).packetId });
        const second = await raw.next();
        expect(new TextDecoder().decode((second as { payload: Uint8Array }).payload)).toBe('b');
        raw.close();
        await pub.endAsync();
      });

      it('publishes a will after its delay, and not if the client returns in time', async () => {
        const topic = uniqueId('delay');
        const watch = await connectMqtt(url, { protocolVersion: 5 });
        await watch.subscribeAsync(topic);
        const got = inbox(watch);
        const will = { topic, payload: Buffer.from('late'), qos: 0 as const, retain: false, properties: { willDelayInterval: 2 } };
        const dev = await connectMqtt(url, { protocolVersion: 5, will, properties: { sessionExpiryInterval: 60 } });
        (dev as unknown as { stream: { destroy(): void } }).stream.destroy();
        const started = Date.now();
        expect((await got.next(6_000)).payload).toBe('late');
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
        await watch.endAsync();
      });
    });
  });
}
