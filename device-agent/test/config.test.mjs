// Pure parts, through the built library (dist/index.js): mosquitto bridge syntax, the topic map
// and its loop guard, endpoints, credential injection, backoff, framing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import lib from '../dist/index.js';

const { parseBridgeConfig, parseTopicLine, TopicMap, LoopGuard, Backoff, parseEndpoint, parseHostPort, injectCredentials, firstPacketLength, matches, encode } = lib;

describe('bridge configuration (mosquitto syntax)', () => {
  test('a full connection block parses into typed settings', () => {
    const { connections, warnings } = parseBridgeConfig(`
# comment
connection edge
address wss://edge.example.com/mqtt/farm ws://backup.example.com:8787/mqtt
remote_clientid board-7
remote_username board
remote_password secret
local_address 127.0.0.1:1884
local_clientid local-7
cleansession true
bridge_protocol_version mqttv50
keepalive_interval 30
notifications false
notification_topic status/board-7
restart_timeout 2 20
try_private false
topic sensors/# out 1 "" farm/
topic commands/+ in 2 board/ cloud/
topic "" both 0 local/flag remote/flag
`);
    assert.equal(connections.length, 1);
    const c = connections[0];
    assert.deepEqual(c.addresses, ['wss://edge.example.com/mqtt/farm', 'ws://backup.example.com:8787/mqtt']);
    assert.deepEqual([c.remoteClientId, c.remoteUsername, c.remotePassword, c.localAddress, c.localClientId], ['board-7', 'board', 'secret', '127.0.0.1:1884', 'local-7']);
    assert.deepEqual([c.cleanSession, c.protocolVersion, c.keepalive, c.notifications, c.notificationTopic], [true, 5, 30, false, 'status/board-7']);
    assert.deepEqual(c.restartTimeout, { base: 2, cap: 20 });
    assert.deepEqual(c.topics, [
      { pattern: 'sensors/#', direction: 'out', qos: 1, localPrefix: '', remotePrefix: 'farm/' },
      { pattern: 'commands/+', direction: 'in', qos: 2, localPrefix: 'board/', remotePrefix: 'cloud/' },
      { pattern: '', direction: 'both', qos: 0, localPrefix: 'local/flag', remotePrefix: 'remote/flag' },
    ]);
    assert.match(warnings[0], /line 16: try_private/);
  });

  test('defaults follow mosquitto: out, QoS 0, cleansession false, mqttv311, keepalive 60, notifications on', () => {
    const [c] = parseBridgeConfig('connection a\naddress ws://h/mqtt\ntopic t/#\n').connections;
    assert.deepEqual(c.topics[0], { pattern: 't/#', direction: 'out', qos: 0, localPrefix: '', remotePrefix: '' });
    assert.deepEqual([c.cleanSession, c.protocolVersion, c.keepalive, c.notifications, c.localAddress], [false, 4, 60, true, '127.0.0.1:1883']);
  });

  test('several connections in one file', () => {
    const { connections } = parseBridgeConfig('connection a\naddress ws://h/mqtt\ntopic a/#\nconnection b\naddress ws://h/mqtt\ntopic b/# in\n');
    assert.deepEqual(connections.map((c) => [c.name, c.topics[0].direction]), [['a', 'out'], ['b', 'in']]);
  });

  const bad = [
    ['address ws://h/mqtt', /line 1: "address" must come after a "connection" line/],
    ['connection a\nfrobnicate 1\n', /line 2: unknown bridge option "frobnicate"/],
    ['connection a\naddress tcp://h:1883\ntopic a', /line 2: address must be the edge's ws:\/\/ or wss:\/\/ URL/],
    ['connection a\naddress ws://h/\ntopic a sideways', /line 3: topic direction/],
    ['connection a\naddress ws://h/\ntopic a out 3', /line 3: topic qos must be 0, 1 or 2/],
    ['connection a\naddress ws://h/\ntopic a/#/b', /line 3: "a\/#\/b" is not a valid topic filter/],
    ['connection a\naddress ws://h/\ntopic a out 1 pre/', /line 3: topic takes a pattern/],
    ['connection a\naddress ws://h/\n', /line 1: connection a has no "topic" line/],
    ['connection a\naddress ws://h/\ntopic a\nconnection a\n', /line 4: connection "a" defined twice/],
    ['connection a\nkeepalive_interval soon\n', /line 2: expected a number/],
    ['connection a\ncleansession maybe\n', /line 2: expected true or false/],
    ['connection a\nbridge_protocol_version mqttv6\n', /line 2: bridge_protocol_version must be/],
    ['', /no "connection"/],
  ];
  for (const [text, message] of bad) {
    test(`rejects ${JSON.stringify(text.split('\n').filter(Boolean).pop() ?? 'an empty file')} with the line number`, () => {
      assert.throws(() => parseBridgeConfig(text), message);
    });
  }

  test('a topic line with wildcards in a prefix is refused', () => {
    assert.throws(() => parseTopicLine('x out 0 a/+/ b/', 9), /line 9: prefixes cannot contain wildcards/);
  });
});

describe('topic map', () => {
  const map = new TopicMap([
    parseTopicLine('sensors/# out 1 "" farm/', 1),
    parseTopicLine('commands/+ in 2 board/ cloud/', 2),
    parseTopicLine('shared/# both 0', 3),
  ]);

  test('subscriptions per side carry the prefix and QoS of their lines', () => {
    assert.deepEqual(map.subscriptions('local'), [{ topicFilter: 'sensors/#', qos: 1 }, { topicFilter: 'shared/#', qos: 0 }]);
    assert.deepEqual(map.subscriptions('remote'), [{ topicFilter: 'cloud/commands/+', qos: 2 }, { topicFilter: 'shared/#', qos: 0 }]);
  });

  test('topics are renamed across by swapping prefixes, and only in the line\'s direction', () => {
    assert.equal(map.translate('local', 'sensors/t/1'), 'farm/sensors/t/1');
    assert.equal(map.translate('remote', 'cloud/commands/reboot'), 'board/commands/reboot');
    assert.equal(map.translate('remote', 'farm/sensors/t/1'), undefined);
    assert.equal(map.translate('local', 'board/commands/reboot'), undefined);
    assert.equal(map.translate('local', 'shared/x'), 'shared/x');
    assert.equal(map.translate('remote', 'shared/x'), 'shared/x');
  });

  test('an empty pattern maps one exact topic', () => {
    const m = new TopicMap([parseTopicLine('"" both 0 local/flag remote/flag', 1)]);
    assert.equal(m.translate('local', 'local/flag'), 'remote/flag');
    assert.equal(m.translate('remote', 'remote/flag'), 'local/flag');
    assert.equal(m.translate('local', 'local/flag/x'), undefined);
  });

  test('echoes: whether a publish on a side matches our own subscriptions there', () => {
    assert.equal(map.echoes('remote', 'shared/a'), true);
    assert.equal(map.echoes('remote', 'farm/sensors/a'), false);
  });
});

describe('loop guard', () => {
  test('a message the agent published on a side is recognised once when it comes back from that side', () => {
    let now = 0;
    const guard = new LoopGuard(1000, () => now);
    const payload = new TextEncoder().encode('23.0');
    guard.published('remote', 't', payload);
    assert.equal(guard.isEcho('local', 't', payload), false, 'other side');
    assert.equal(guard.isEcho('remote', 't', new TextEncoder().encode('24.0')), false, 'other payload');
    assert.equal(guard.isEcho('remote', 't', payload), true);
    assert.equal(guard.isEcho('remote', 't', payload), false, 'only once per publish');
    guard.published('remote', 't', payload);
    now = 1001;
    assert.equal(guard.isEcho('remote', 't', payload), false, 'expired');
    assert.equal(guard.size, 0);
  });
});

describe('endpoints, credentials, backoff, framing', () => {
  test('URLs: ws/wss keep their path (namespace); mqtt:// takes a topic and credentials as mosquitto -L does', () => {
    const ws = parseEndpoint('wss://edge.example.com/mqtt/farm');
    assert.deepEqual([ws.transport, ws.tls, ws.host, ws.port, ws.path], ['ws', true, 'edge.example.com', 443, '/mqtt/farm']);
    const m = parseEndpoint('mqtt://u:p%40ss@127.0.0.1:1884/temp/random');
    assert.deepEqual([m.transport, m.port, m.topic, m.username, m.password], ['tcp', 1884, 'temp/random', 'u', 'p@ss']);
    assert.ok(!m.display.includes('p@ss'), 'logs never show the password');
    assert.throws(() => parseEndpoint('http://x/'), /unsupported URL scheme/);
    assert.deepEqual(parseHostPort('0.0.0.0:1883', '127.0.0.1', 1), { host: '0.0.0.0', port: 1883 });
    assert.deepEqual(parseHostPort('1884', '127.0.0.1', 1), { host: '127.0.0.1', port: 1884 });
    assert.deepEqual(parseHostPort('[::1]:1885', '127.0.0.1', 1), { host: '::1', port: 1885 });
  });

  test('credential injection replaces what the device sent; a token rides in the password', () => {
    const connect = { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'dev', username: 'dev', password: new Uint8Array([1]) };
    const a = injectCredentials(connect, { username: 'edge', password: 'pw' });
    assert.deepEqual([a.username, Buffer.from(a.password).toString()], ['edge', 'pw']);
    const b = injectCredentials({ ...connect, username: undefined, password: undefined }, { token: 'jwt' });
    assert.deepEqual([b.username, Buffer.from(b.password).toString()], ['token', 'jwt']);
    const c = injectCredentials({ ...connect, username: undefined, password: undefined }, { password: 'pw' });
    assert.equal(c.username, '', 'MQTT 3.1.1 needs a user name with a password');
  });

  test('backoff doubles up to the cap with jitter in the upper half, and resets', () => {
    const b = new Backoff({ base: 1000, cap: 8000, random: () => 0 });
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [500, 1000, 2000, 4000, 4000]);
    const top = new Backoff({ base: 1000, cap: 8000, random: () => 0.999999 });
    assert.deepEqual([top.next(), top.next(), top.next(), top.next(), top.next()], [1000, 2000, 4000, 8000, 8000]);
    b.reset();
    assert.equal(b.next(), 500);
  });

  test('framing finds the end of the first packet from its fixed header only', () => {
    const a = encode({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'x'.repeat(200) }, 4);
    const two = Buffer.concat([a, Buffer.from([0xc0, 0x00])]);
    assert.equal(firstPacketLength(two), a.length);
    assert.equal(firstPacketLength(a.subarray(0, a.length - 1)), undefined);
    assert.equal(firstPacketLength(a.subarray(0, 1)), undefined);
    assert.throws(() => firstPacketLength(Uint8Array.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])), /malformed/);
  });

  test('topic filters match as MQTT says, $ topics excluded from leading wildcards', () => {
    assert.ok(matches('a/#', 'a'));
    assert.ok(matches('a/+/c', 'a/b/c'));
    assert.ok(!matches('a/+', 'a/b/c'));
    assert.ok(!matches('#', '$SYS/x'));
    assert.ok(matches('$SYS/#', '$SYS/x'));
  });
});
