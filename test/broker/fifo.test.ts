import { describe, expect, it } from 'vitest';
import { Fifo } from '../../src/broker/fifo.ts';

describe('Fifo', () => {
  it('gives items back in order across compactions, and undefined when empty', () => {
    const q = new Fifo<number>();
    expect(q.shift()).toBeUndefined();
    const out: number[] = [];
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) q.push(next++);
      for (let i = 0; i < 70; i++) out.push(q.shift()!);
    }
    expect(q.length).toBe(50 * 30);
    while (q.length) out.push(q.shift()!);
    expect(out).toEqual(Array.from({ length: next }, (_, i) => i));
    expect(q.shift()).toBeUndefined();
  });
});
