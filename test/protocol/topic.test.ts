// Topic names, topic filters and shared subscriptions: form only [MQTT-4.7, MQTT-4.8.2].
import { describe, expect, it } from 'vitest';
import { parseSharedFilter, ReasonCode, validateTopicFilter, validateTopicName } from '../../src/protocol/index.ts';
import { errorCode } from './helpers.ts';

describe('validateTopicName', () => {
  for (const topic of ['a', 'a/b/c', '/', '//', '/a', 'a/', '$SYS/x', 'ü/€/😀', ' ', 'a b']) {
    it(`accepts ${JSON.stringify(topic)}`, () => expect(() => validateTopicName(topic)).not.toThrow());
  }
  for (const [topic, rule] of [
    ['', 'MQTT-4.7.3-1'], ['+', 'MQTT-3.3.2-2'], ['a/+/b', 'MQTT-3.3.2-2'], ['#', 'MQTT-3.3.2-2'], ['a/#', 'MQTT-3.3.2-2'],
    ['a+b', 'MQTT-3.3.2-2'], ['a#', 'MQTT-3.3.2-2'], ['a\u0000b', 'MQTT-1.5.4-2'],
  ] as const) {
    it(`refuses ${JSON.stringify(topic)} with TopicNameInvalid [${rule}]`, () => {
      expect(errorCode(() => validateTopicName(topic))).toBe(ReasonCode.TopicNameInvalid);
    });
  }
});

describe('validateTopicFilter', () => {
  for (const filter of [
    'a', '#', '+', '+/+', '/+', '+/', 'a/#', 'a/+/b', '+/#', '/#', '$SYS/#', 'a//b', 'ü/+', '$share', '$shared/a', '$share/g/a/#', '$share/g/+',
  ]) {
    it(`accepts ${JSON.stringify(filter)}`, () => expect(() => validateTopicFilter(filter)).not.toThrow());
  }
  for (const [filter, rule] of [
    ['', 'MQTT-4.7.3-1'], ['a#', 'MQTT-4.7.1-2'], ['#/a', 'MQTT-4.7.1-2'], ['a/#/b', 'MQTT-4.7.1-2'], ['a/b#', 'MQTT-4.7.1-2'],
    ['##', 'MQTT-4.7.1-2'], ['a+', 'MQTT-4.7.1-3'], ['+a', 'MQTT-4.7.1-3'], ['a/b+/c', 'MQTT-4.7.1-3'], ['++', 'MQTT-4.7.1-3'],
    ['a\u0000', 'MQTT-1.5.4-2'], ['$share/g/', 'MQTT-4.8.2-1'], ['$share/g/a#', 'MQTT-4.7.1-2'], ['$share//a', 'MQTT-4.8.2-2'],
  ] as const) {
    it(`refuses ${JSON.stringify(filter)} with TopicFilterInvalid [${rule}]`, () => {
      expect(errorCode(() => validateTopicFilter(filter))).toBe(ReasonCode.TopicFilterInvalid);
    });
  }
});

describe('parseSharedFilter', () => {
  it('is undefined for a filter that is not shared', () => {
    for (const filter of ['a/b', '$share', '$shared/g/a', 'share/g/a', '$SHARE/g/a']) expect(parseSharedFilter(filter)).toBeUndefined();
  });

  it('splits $share/<group>/<filter> [MQTT-4.8.2-1]', () => {
    expect(parseSharedFilter('$share/g1/a/+/#')).toEqual({ group: 'g1', filter: 'a/+/#' });
    expect(parseSharedFilter('$share/g/#')).toEqual({ group: 'g', filter: '#' });
    expect(parseSharedFilter('$share/g//')).toEqual({ group: 'g', filter: '/' });
  });

  for (const [filter, rule] of [
    ['$share/', 'MQTT-4.8.2-2'], ['$share//a', 'MQTT-4.8.2-2'], ['$share/g', 'MQTT-4.8.2-1'], ['$share/g/', 'MQTT-4.8.2-1'],
    ['$share/g+/a', 'MQTT-4.8.2-2'], ['$share/+/a', 'MQTT-4.8.2-2'], ['$share/#/a', 'MQTT-4.8.2-2'], ['$share/g#/a', 'MQTT-4.8.2-2'],
    ['$share/g/a+', 'MQTT-4.7.1-3'], ['$share/g/#/a', 'MQTT-4.7.1-2'],
  ] as const) {
    it(`refuses ${JSON.stringify(filter)} with TopicFilterInvalid [${rule}]`, () => {
      expect(errorCode(() => parseSharedFilter(filter))).toBe(ReasonCode.TopicFilterInvalid);
    });
  }
});
