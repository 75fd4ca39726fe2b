// The agent under test: the built bundle (dist/device-agent.js) run by the Node that runs the
// tests, so the same files test Node 22 and Node 18.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, start } from './procs.mjs';

export const bin = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../dist/device-agent.js');

export const tempDir = (label = 'agent') => mkdtempSync(join(tmpdir(), `${label}-`));

/** Runs `device-agent <args>` to completion. */
export const agent = (args, opts) => run(process.execPath, [bin, ...args], opts);

/** Starts a long-running `device-agent <args>` (tunnel, bridge, sub). */
export const startAgent = (args, opts) => start(process.execPath, [bin, ...args], opts);
