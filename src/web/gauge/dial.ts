// Drawing the gauge: the needle and the arc for a value within [min, max], and the recent values
// as a line scaled to their own range.

export interface Scale {
  min: number;
  max: number;
}

/** The needle's angle: -90° at min, +90° at max, held at the ends outside the range. */
export function needleAngle(value: number, { min, max }: Scale): number {
  const t = max > min ? Math.min(1, Math.max(0, (value - min) / (max - min))) : 0;
  return -90 + 180 * t;
}

/** The filled part of the dial's semicircle (centre 100,100, radius 80) up to the angle. */
export function arcPath(angle: number): string {
  const rad = ((angle - 90) * Math.PI) / 180;
  const x = 100 + 80 * Math.cos(rad);
  const y = 100 + 80 * Math.sin(rad);
  return `M 20 100 A 80 80 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`;
}

/** Points for a 300x60 polyline, oldest on the left. */
export function historyPoints(values: number[]): string {
  if (!values.length) return '';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const y = (v: number) => (hi === lo ? 30 : 55 - ((v - lo) / (hi - lo)) * 50);
  if (values.length === 1) return `0,${y(values[0])} 300,${y(values[0])}`; // one value: a level line
  const step = 300 / (values.length - 1);
  return values.map((v, i) => `${(i * step).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
}

/** A number from a payload: plain text ("23.0"), a JSON number, or JSON { "value": n }. */
export function readingOf(text: string): number | undefined {
  const plain = Number(text.trim());
  if (text.trim() !== '' && Number.isFinite(plain)) return plain;
  try {
    const v = JSON.parse(text) as unknown;
    const n = typeof v === 'object' && v !== null && 'value' in v ? Number((v as { value: unknown }).value) : NaN;
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
