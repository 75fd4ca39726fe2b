// A second, independent client implementation: Paho Python over WebSockets.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueId } from './clients.ts';
import { startBroker, type BrokerServer } from './server.ts';

const script = join(import.meta.dirname, 'paho_client.py');

function paho(scenario: string, port: number, version: 4 | 5): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/python3', [script, scenario, String(port), String(version), uniqueId('paho')], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${scenario}: ${err.message}\n${stdout}\n${stderr}`));
      resolve(JSON.parse(stdout));
    });
  });
}

describe('Paho Python over WebSockets', () => {
  let server: BrokerServer;
  beforeAll(async () => void (server = await startBroker()), 90_000);
  afterAll(async () => server?.stop());

  for (const version of [4, 5] as const) {
    describe(`protocol version ${version}`, () => {
      it('connects and exchanges QoS 0, 1 and 2 messages', async () => {
        const out = await paho('qos', server.port, version);
        expect(out.connack).toBe(0);
        expect(out.received).toEqual([0, 1, 2].map((q) => expect.objectContaining({ payload: `q${q}`, qos: q, retain: false })));
      });

      it('receives a retained message on subscribe', async () => {
        const out = await paho('retained', server.port, version);
        expect(out.received).toEqual([expect.objectContaining({ payload: 'kept', retain: true, qos: 1 })]);
      });

      it('gets the will of a dropped client, and none from a polite one', async () => {
        const out = await paho('will', server.port, version);
        expect(out.received).toEqual([expect.objectContaining({ payload: 'gone', qos: 1 })]);
      });
    });
  }
});
