// Drawing the gauge: the needle and the arc for a value within [min, max], where a value stands
// against the scale, and the recent values as a line scaled to their own range.

export interface Scale {
  min: number;
  max: number;
}

/** The needle's angle: -90° at min, +90° at max, held at the ends outside the range. */
export function needleAngle(value: number, { min, max }: Scale): number {
  const t = max > min ? Math.min(1, Math.max(0, (value - min) / (max - min))) : 0;
  return -90 + 180 * t;
}

/** Whether the value is on the dial or past one of its ends. */
export function placeOnScale(value: number, { min, max }: Scale): 'below' | 'within' | 'above' {
  return value < min ? 'below' : value > max ? 'above' : 'within';
}

/** The filled part of the dial's semicircle (centre 100,100, radius 80) up to the angle. */
export function arcPath(angle: number): string {
  const rad = ((angle - 90) * Math.PI) / 180;
  const x = 100 + 80 * Math.cos(rad);
  const y = 100 + 80 * Math.sin(rad);
  return `M 20 100 A 80 80 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`;
}

/** The history box is 300x60; the line keeps this far from its edges so its stroke is never cut. */
const pad = { x: 4, top: 6, bottom: 54 };

/** The lowest and highest of the values: the history line's own scale, drawn at its top and bottom. */
export function historyRange(values: number[]): { lo: number; hi: number } | undefined {
  return values.length ? { lo: Math.min(...values), hi: Math.max(...values) } : undefined;
}

/** Points for the 300x60 polyline, oldest on the left, highest value at the top edge (y 6), lowest at the bottom (y 54). */
export function historyPoints(values: number[]): string {
  const range = historyRange(values);
  if (!range) return '';
  const { lo, hi } = range;
  const y = (v: number) => (hi === lo ? 30 : pad.bottom - ((v - lo) / (hi - lo)) * (pad.bottom - pad.top));
  const x0 = pad.x;
  const width = 300 - 2 * pad.x;
  if (values.length === 1) return `${x0},${y(values[0])} ${x0 + width},${y(values[0])}`; // one value: a level line
  const step = width / (values.length - 1);
  return values.map((v, i) => `${(x0 + i * step).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
}

export interface Reading {
  value: number;
  /** As the sender wrote it ("23.0" stays "23.0"); a JSON value as JavaScript prints it. */
  text: string;
}

/** A number from a payload: plain text ("23.0"), a JSON number, or JSON { "value": n }. */
export function readingOf(payload: string): Reading | undefined {
  const text = payload.trim();
  const plain = Number(text);
  if (text !== '' && Number.isFinite(plain)) return { value: plain, text };
  try {
    const v = JSON.parse(payload) as unknown;
    const n = typeof v === 'object' && v !== null && 'value' in v ? Number((v as { value: unknown }).value) : NaN;
    return Number.isFinite(n) ? { value: n, text: String(n) } : undefined;
  } catch {
    return undefined;
  }
}
