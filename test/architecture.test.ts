// Layers import only downwards: protocol ← broker ← edge; protocol and broker stay pure. The
// broker's one package is jose (JWT verification on WebCrypto alone: no platform in it).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function imports(path: string): string[] {
  const source = readFileSync(path, 'utf8');
  return [...source.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

describe('architecture', () => {
  for (const [layer, forbidden] of [
    ['src/protocol', [/^node:/, /^cloudflare:/, /\/broker\//, /\/edge\//, /^[^.]/]],
    ['src/broker', [/^node:/, /^cloudflare:/, /\/edge\//, /^(?!\.|jose$)/]],
    // the rule engine: pure like the broker; its one package is json-logic-js (an interpreter, no eval)
    ['src/rules', [/^node:/, /^cloudflare:/, /\/edge\//, /^(?!\.|json-logic-js$)/]],
  ] as const) {
    it(`${layer} imports nothing from the platform or from layers above`, () => {
      const offences = files(join(root, layer)).flatMap((file) =>
        imports(file).filter((spec) => forbidden.some((re) => re.test(spec))).map((spec) => `${relative(root, file)}: ${spec}`),
      );
      expect(offences).toEqual([]);
    });
  }

  it('src/protocol never uses Node Buffer', () => {
    const offences = files(join(root, 'src/protocol')).filter((f) => /\bBuffer\b/.test(readFileSync(f, 'utf8')));
    expect(offences).toEqual([]);
  });
});
