// Bundles the agent into dist/: device-agent.js (the CLI, one file runnable by a bare `node`
// on a board) and index.js (the same modules as a library, used by the tests). The codec in
// ../src/protocol is bundled in, so the agent and the broker share one.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node16',
  format: 'cjs',
  loader: { '.txt': 'text' },
  // ws loads these native speed-ups only if present; the agent stays pure JavaScript.
  external: ['bufferutil', 'utf-8-validate'],
  legalComments: 'none',
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/device-agent.js',
  banner: { js: '#!/usr/bin/env node' },
});
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
chmodSync('dist/device-agent.js', 0o755);
