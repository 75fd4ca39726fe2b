// Bundles the agent into dist/: device-agent.js (the CLI, one file runnable by a bare `node`
// on a board) and index.js (the same modules as a library, used by the tests). The codec in
// ../src/protocol is bundled in, so the agent and the broker share one.
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

// ws requires tls, https (for wss://) and zlib (for compression, which the agent turns off) as it
// loads; they are loaded at their first use instead, so that a ws:// agent does not carry them
// (node:tls alone is ~3 MB of RSS on Node 22). ws touches them only inside its functions.
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^(tls|https|zlib)$/ }, (a) => (/[\\/]node_modules[\\/]ws[\\/]/.test(a.importer) ? { path: a.path, namespace: 'lazy' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, (a) => ({
      contents: `let m; module.exports = new Proxy({}, { get: (_, k) => (m ??= require('node:${a.path}'))[k] });`,
      loader: 'js',
    }));
  },
};

const common = {
  plugins: [lazyBuiltins],
  bundle: true,
  platform: 'node',
  target: 'node16',
  format: 'cjs',
  loader: { '.txt': 'text' },
  // ws loads these native speed-ups only if present; the agent stays pure JavaScript.
  external: ['bufferutil', 'utf-8-validate'],
  legalComments: 'none',
  // Whitespace and syntax only, names kept (stack traces stay readable): the bundle's source and
  // bytecode take 0.7–0.9 MB less RSS (README, Memory).
  minifyWhitespace: true,
  minifySyntax: true,
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
