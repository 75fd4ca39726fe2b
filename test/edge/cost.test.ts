// GET /api/cost within the Free plan's 50 subrequests per invocation: the objects are asked as a
// tree (src/edge/cost.ts). The plan is checked on the largest namespace (768 objects), and the
// endpoint on a real one of 70 objects.
import { exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { answerFor, fanOut, gather, membersOf, type AskObject, type Member } from '../../src/edge/cost.ts';
import type { Units } from '../../src/edge/billing.ts';
import { WsClient } from './ws-client.ts';

const one: Units = { requests: 1, rpcCalls: 0, websocketMessagesIn: 0, rowsRead: 0, rowsWritten: 0, activeMs: 0 };

describe('GET /api/cost', () => {
  it('asks each of 768 objects once, no invocation calling more than 32', async () => {
    const members = membersOf('big', { gateways: 256, shards: 256, sessions: 256 });
    const asked: string[] = [];
    let most = 0;
    /** Each call is one invocation of an object: it counts the calls it makes itself. */
    const invocation = (): AskObject => {
      let calls = 0;
      return async (member: Member, group: Member[]) => {
        most = Math.max(most, ++calls);
        asked.push(member.name + member.role);
        return answerFor(member.role, one, group, invocation());
      };
    };
    const byRole = await gather(members, invocation());
    expect(most).toBeLessThanOrEqual(fanOut);
    expect(fanOut).toBeLessThan(50);
    expect(asked.sort()).toEqual(members.map((m) => m.name + m.role).sort());
    expect(byRole).toEqual({
      gateways: { units: { ...one, requests: 256 }, objects: 256 },
      shards: { units: { ...one, requests: 256 }, objects: 256 },
      sessions: { units: { ...one, requests: 256 }, objects: 256 },
    });
  });

  it('sums every object of a namespace of 70, the last gateway too', async () => {
    const cost = async () => {
      const res = await exports.default.fetch('http://broker.test/api/cost?ns=wide');
      expect(res.status).toBe(200);
      return (await res.json()) as { total: Units & { objects: number }; byRole: Record<string, { objects: number; websocketMessagesIn: number }> };
    };
    const before = await cost();
    expect(before.total.objects).toBe(70);
    expect([before.byRole.gateways.objects, before.byRole.shards.objects, before.byRole.sessions.objects]).toEqual([30, 20, 20]);
    const c = await WsClient.open('/mqtt/wide?gateway=29');
    await c.connect('cost-wide');
    const after = await cost();
    expect(after.byRole.gateways.websocketMessagesIn).toBe(before.byRole.gateways.websocketMessagesIn + 1);
  }); // 70 objects start, each creating its tables: 1.7-4.9 s on the shared 2-core VM (the project allows 30 s)
});
