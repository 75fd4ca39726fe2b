// Builds the web console into dist/web: each page's TypeScript bundled with MQTT.js for the
// browser (served by the Worker itself, no CDN), and the static files copied. Wrangler runs it
// before `dev` and `deploy` ([build] in wrangler.toml); `npm test` runs it first too.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const src = join(root, 'src/web');
const out = join(root, 'dist/web');
const pages = ['console', 'gauge', 'rules'];

/** Readers (wrangler dev, the workers tests) may be serving dist/web: never show a half-written file. */
function put(path, write) {
  const tmp = `${path}.${process.pid}.tmp`;
  write(tmp);
  renameSync(tmp, path);
}

mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: Object.fromEntries(pages.map((p) => [p, join(src, p, 'main.ts')])),
  bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true,
  legalComments: 'eof', outdir: out, write: false, logLevel: 'warning',
});
for (const file of result.outputFiles) put(file.path, (tmp) => writeFileSync(tmp, file.contents));
for (const name of readdirSync(src).filter((n) => /\.(html|css|svg)$/.test(n))) {
  put(join(out, basename(name)), (tmp) => copyFileSync(join(src, name), tmp));
}
