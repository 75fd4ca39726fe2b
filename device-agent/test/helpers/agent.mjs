// The agent under test: the built bundle (dist/device-agent.js) run by $AGENT_NODE, else by the
// Node that runs the tests; test/run.mjs runs the same files with the newest Node and the oldest
// the agent supports.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, start } from './procs.mjs';

/** AGENT_BIN runs another build (a benchmark's "before"). */
export const bin = process.env.AGENT_BIN || join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../dist/device-agent.js');

export const tempDir = (label = 'agent') => mkdtempSync(join(tmpdir(), `${label}-`));

/** Runs `device-agent <args>` to completion. */
export const agentNode = process.env.AGENT_NODE || process.execPath;

export const agent = (args, opts) => run(agentNode, [bin, ...args], opts);

/** Starts a long-running `device-agent <args>` (tunnel, bridge, sub). */
export const startAgent = (args, opts) => start(agentNode, [bin, ...args], opts);
