// The READMEs' promises that a reader acts on first, checked against what the packages declare:
// the Node versions, and URLs a reader would paste.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');
const engines = (path: string) => (JSON.parse(read(path)) as { engines: { node: string } }).engines.node;

describe('README promises', () => {
  it('says the Node version package.json asks for (project and device-agent)', () => {
    expect(engines('package.json')).toBe('>=20');
    expect(read('README.md')).toMatch(/You need Node 20 or newer/);
    expect(engines('device-agent/package.json')).toBe('>=16.17');
    expect(read('README.md')).toMatch(/Node 16\.17 or newer/);
    expect(read('device-agent/README.md')).toMatch(/runs on \*\*Node 16\.17 or newer\*\*/);
  });

  it('prints no URL with a bare # or + in a query, which the API would never see as such', () => {
    for (const file of ['README.md', 'device-agent/README.md', 'docs/ARCHITECTURE.md']) {
      for (const line of read(file).split('\n').filter((l) => /\/api\/\S*\?/.test(l))) {
        expect(line, file).not.toMatch(/\/api\/[^\s`'"]*\?[^\s`'"]*[#+]/);
      }
    }
  });
});
