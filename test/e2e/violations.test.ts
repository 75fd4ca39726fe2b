// The protocol-violation table end to end: each case's bytes over a real WebSocket to wrangler
// dev, the same reaction expected as in the broker's unit tests (test/broker/violations.test.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Packet, ProtocolVersion } from '../../src/protocol/index.ts';
import { activeCases, openingCases, violationConfig } from '../broker/violation-cases.ts';
import { RawClient } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const code = (p: Packet | undefined) => (p && 'reasonCode' in p ? p.reasonCode : p?.type);

describe('protocol violations over the wire', () => {
  let server: BrokerServer;
  beforeAll(async () => {
    server = await startBroker({
      vars: { MQTT_MAX_PACKET_SIZE: String(violationConfig.maxPacketSize), MQTT_TOPIC_ALIAS_MAXIMUM: String(violationConfig.topicAliasMaximum) },
    });
  }, 90_000);
  afterAll(async () => server?.stop());

  /** The packets the server sent, once it has closed the connection. */
  async function reaction(version: ProtocolVersion, bytes: Uint8Array, connectFirst: boolean): Promise<Packet[]> {
    const raw = connectFirst ? (await RawClient.connect(server.url, version)).raw : await RawClient.open(server.url, version);
    raw.sendBytes(bytes);
    expect(await raw.closedWithin(5_000)).toBe(true);
    return raw.packets;
  }

  for (const [name, v5, expected, v4] of activeCases) {
    if (v5) it(`v5: ${name} → DISCONNECT 0x${expected.toString(16)}`, async () => {
      expect((await reaction(5, v5, true)).map(code)).toEqual([expected]);
    });
    if (v4) it(`3.1.1: ${name} → closed`, async () => {
      expect(await reaction(4, v4, true)).toEqual([]);
    });
  }
  for (const [name, v5, expected, v4, v4code] of openingCases) {
    if (v5) it(`v5: ${name} → ${expected === undefined ? 'closed' : `CONNACK 0x${expected.toString(16)}`}`, async () => {
      expect((await reaction(5, v5, false)).map(code)).toEqual(expected === undefined ? [] : [expected]);
    });
    if (v4) it(`3.1.1: ${name} → ${v4code === undefined ? 'closed' : `CONNACK ${v4code}`}`, async () => {
      expect((await reaction(4, v4, false)).map(code)).toEqual(v4code === undefined ? [] : [v4code]);
    });
  }
});
