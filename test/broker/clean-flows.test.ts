// Clean sessions' flows: in memory, copied whole to a snapshot when saved, read back after a wake,
// gone with the session.
import { describe, expect, it } from 'vitest';
import { CleanFlows, type FlowSnapshots } from '../../src/broker/clean-flows.ts';
import type { OutboundMessage } from '../../src/broker/ports.ts';

class MemorySnapshots implements FlowSnapshots {
  readonly saved = new Map<string, { outbound: OutboundMessage[]; incoming: number[] }>();
  writes = 0;
  save(clientId: string, outbound: OutboundMessage[], incoming: number[]): void {
    this.writes++;
    this.saved.set(clientId, structuredClone({ outbound, incoming }));
  }
  load(clientId: string) {
    return structuredClone(this.saved.get(clientId) ?? { outbound: [], incoming: [] });
  }
  delete(clientId: string): void {
    this.saved.delete(clientId);
  }
}

const message = (topic: string) => ({ topic, payload: new TextEncoder().encode(topic), qos: 1 as const, retain: false });

describe('CleanFlows', () => {
  it('is quiet only when nothing changed since it was last asked: a steady flow is never saved', () => {
    const flows = new CleanFlows(new MemorySnapshots());
    expect(flows.quiet()).toBe(true);
    const seq = flows.store.enqueue('a', { message: message('1'), state: 'sent', packetId: 1 });
    expect([flows.quiet(), flows.quiet()]).toEqual([false, true]);
    flows.store.deleteOutbound('a', [seq]);
    expect(flows.quiet()).toBe(false);
    flows.store.addIncoming('a', 3);
    flows.store.deleteIncoming('a', 3);
    expect([flows.quiet(), flows.quiet()]).toEqual([false, true]);
  });

  it('saves only what changed, once per save however many changes, and tells the object once per burst', () => {
    const snapshots = new MemorySnapshots();
    const flows = new CleanFlows(snapshots);
    let calls = 0;
    flows.whenChanged = () => void calls++;
    const a = flows.store.enqueue('a', { message: message('1'), state: 'sent', packetId: 1 });
    flows.store.enqueue('a', { message: message('2'), state: 'queued' });
    flows.store.addIncoming('b', 7);
    expect([calls, flows.unsaved()]).toEqual([1, true]);
    flows.save();
    expect([snapshots.writes, flows.unsaved()]).toEqual([2, false]);
    expect(snapshots.saved.get('a')!.outbound.map((e) => e.message.topic)).toEqual(['1', '2']);
    flows.store.deleteOutbound('a', [a]);
    expect(calls).toBe(2);
    flows.save();
    expect(snapshots.saved.get('a')!.outbound.map((e) => e.message.topic)).toEqual(['2']);
    expect(snapshots.writes).toBe(3); // b did not change
    flows.store.deleteIncoming('b', 7);
    flows.save();
    expect(snapshots.saved.has('b')).toBe(false); // nothing left: the snapshot goes
  });

  it('reads a snapshot back after a wake, in order, with packet ids and states, and drops it when the session ends', () => {
    const snapshots = new MemorySnapshots();
    const before = new CleanFlows(snapshots);
    before.store.enqueue('c', { message: message('x'), state: 'released', packetId: 9 });
    before.store.enqueue('c', { message: message('y'), state: 'queued' });
    before.store.addIncoming('c', 3);
    before.save();

    const after = new CleanFlows(snapshots); // the object woke: memory is empty
    const store = after.restore('c');
    expect(store.outbound('c').map((e) => [e.message.topic, e.state, e.packetId])).toEqual([['x', 'released', 9], ['y', 'queued', undefined]]);
    expect(store.incoming('c')).toEqual([3]);
    expect(after.unsaved()).toBe(false);
    after.end('c');
    expect([after.store.outboundCount('c'), snapshots.saved.has('c')]).toEqual([0, false]);
  });

  it('keeps flows in memory only when there is nowhere to copy them', () => {
    const flows = new CleanFlows();
    flows.store.addIncoming('d', 1);
    expect(flows.unsaved()).toBe(false);
    flows.save();
    expect(flows.restore('d').incoming('d')).toEqual([1]);
  });
});
