import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/broker/config.ts';
import { checkTopicLimits } from '../../src/broker/limits.ts';
import { MqttError, ReasonCode } from '../../src/protocol/index.ts';
import { World } from './harness.ts';

const config = { ...defaultConfig, maxTopicLength: 12, maxTopicLevels: 3 };
const code = (topic: string): number | undefined => {
  try {
    checkTopicLimits(topic, config, ReasonCode.TopicNameInvalid);
    return undefined;
  } catch (err) {
    return (err as MqttError).reasonCode;
  }
};

describe('topic limits', () => {
  it('counts UTF-8 bytes, not characters: 2, 3 and 4-byte characters', () => {
    expect(code('a'.repeat(12))).toBeUndefined();
    expect(code('a'.repeat(13))).toBe(ReasonCode.TopicNameInvalid);
    expect(code('é'.repeat(6))).toBeUndefined();
    expect(code('é'.repeat(6) + 'a')).toBe(ReasonCode.TopicNameInvalid);
    expect(code('€'.repeat(4))).toBeUndefined();
    expect(code('€'.repeat(4) + 'a')).toBe(ReasonCode.TopicNameInvalid);
    expect(code('😀'.repeat(3))).toBeUndefined();
    expect(code('😀'.repeat(3) + 'a')).toBe(ReasonCode.TopicNameInvalid);
  });

  it('counts levels, empty ones included', () => {
    expect(code('a/b/c')).toBeUndefined();
    expect(code('a/b/c/d')).toBe(ReasonCode.TopicNameInvalid);
    expect(code('//')).toBeUndefined();
    expect(code('///')).toBe(ReasonCode.TopicNameInvalid);
  });

  it('refuses a PUBLISH beyond the limits (v5 DISCONNECT 0x90) and a filter (SUBACK 0x8F)', async () => {
    const w = new World({ config: { maxTopicLength: 12, maxTopicLevels: 3 } });
    const sub = await w.connect({ version: 5, clientId: 'sub' });
    expect(await sub.subscribe('a/b/c/d')).toEqual([ReasonCode.TopicFilterInvalid]);
    expect(await sub.subscribe('a/b/#')).toEqual([0]);
    const pub = await w.connect({ version: 5, clientId: 'pub' });
    await pub.publish('a'.repeat(13), 'x');
    expect(pub.next('disconnect').reasonCode).toBe(ReasonCode.TopicNameInvalid);
    sub.expectNothing();
  });
});
