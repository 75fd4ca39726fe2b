// The meter's cost of idle traffic: a PINGREQ is counted without a row write (its units ride in the
// socket's attachment and survive hibernation), until a stash has carried too much; and setAlarm
// is counted as the row Cloudflare bills for it.
import { env, exports } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Units } from '../../src/edge/billing.ts';
import { saveInterval, stashMaxMessages } from '../../src/edge/meter.ts';
import type { Stats } from '../../src/edge/api/stats.ts';
import { sleep, WsClient } from './ws-client.ts';

let n = 0;
const namespace = () => `meter-${++n}-${Date.now()}`;
/** GET /api/cost asks the objects over RPC, which the meter does not count: reading changes nothing. */
const cost = async (ns: string) => ((await (await exports.default.fetch(`http://broker.test/api/cost?ns=${ns}`)).json()) as { total: Units }).total;
const alarmOf = (ns: string) => runInDurableObject(env.BROKER.getByName(ns), (_o, state) => state.storage.getAlarm());

/** A connected client whose CONNECT has been saved, and the units then. */
async function settled(ns: string): Promise<{ c: WsClient; before: Units }> {
  const c = await WsClient.open(`/mqtt/${ns}`, 4);
  await c.connect('idle', { keepalive: 3600 });
  await sleep(1_200); // the save's due time: a second after the first change
  await runDurableObjectAlarm(env.BROKER.getByName(ns));
  return { c, before: await cost(ns) };
}

async function ping(c: WsClient): Promise<void> {
  c.send({ type: 'pingreq' });
  expect((await c.next()).type).toBe('pingresp');
}

describe('the meter on idle traffic', () => {
  it('counts a PINGREQ with no row written and no alarm, and keeps it across hibernation', async () => {
    const ns = namespace();
    const { c, before } = await settled(ns);
    const alarm = await alarmOf(ns); // the keepalive deadline, 1.5 x 3600 s away
    await ping(c);
    const pinged = await cost(ns);
    expect(pinged).toMatchObject({ websocketMessagesIn: before.websocketMessagesIn + 1, rowsWritten: before.rowsWritten, requests: before.requests });
    expect(await alarmOf(ns)).toBe(alarm);

    await evictDurableObject(env.BROKER.getByName(ns)); // hibernates: the socket stays, memory goes
    const woke = await cost(ns);
    expect(woke).toMatchObject({ websocketMessagesIn: pinged.websocketMessagesIn, rowsWritten: pinged.rowsWritten, requests: pinged.requests });
    expect(woke.activeMs).toBeGreaterThanOrEqual(pinged.activeMs);
    await ping(c); // the hibernated socket still answers, and counts on from the stash
    expect((await cost(ns)).websocketMessagesIn).toBe(pinged.websocketMessagesIn + 1);
    const stats = (await (await exports.default.fetch(`http://broker.test/api/stats?ns=${ns}`)).json()) as Stats;
    expect(stats.received.packets).toBe(3); // CONNECT and two PINGREQs, the first from the stash
  });

  it(`saves to the row once a stash would carry more than ${stashMaxMessages} messages`, async () => {
    const ns = namespace();
    const { c, before } = await settled(ns);
    const savedBy = Date.now(); // settled's alarm saved the row
    for (let i = 0; i < stashMaxMessages; i++) await ping(c);
    expect((await cost(ns)).rowsWritten).toBe(before.rowsWritten);
    // the next save's time, saveInterval after the last, comes however fast the pings went
    await sleep(savedBy + saveInterval + 100 - Date.now());
    await ping(c); // so the save is made in this event, with no alarm
    const counted = await cost(ns);
    expect(counted.rowsWritten).toBe(before.rowsWritten + 1);
    await evictDurableObject(env.BROKER.getByName(ns), { webSockets: 'close' }); // no stash left to read
    const after = await cost(ns);
    expect(after.websocketMessagesIn).toBe(before.websocketMessagesIn + stashMaxMessages + 1);
    expect(after.rowsWritten).toBeGreaterThanOrEqual(counted.rowsWritten); // the close that eviction brings writes more
  });
});
