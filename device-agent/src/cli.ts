// device-agent: pick the command, run it, exit with its code.
import { processIo, runCommand } from './command.ts';
import help from './help/main.txt';
import type { Command } from './io.ts';
import { version } from '../package.json';

// Loaded on demand: a tunnel does not hold the bridge's, pub's or sub's code (nor what only they require).
const commands: Record<string, () => Promise<{ run: Command }>> = {
  tunnel: () => import('./commands/tunnel.ts'),
  bridge: () => import('./commands/bridge.ts'),
  pub: () => import('./commands/pub.ts'),
  sub: () => import('./commands/sub.ts'),
};
const [name = '', ...argv] = process.argv.slice(2);
const usage: Command = async (_argv, io) => {
  if (name === '--version' || name === '-V') return io.stdout.write(`device-agent ${version}\n`), 0;
  if (name === '--help' || name === '-h' || name === 'help') return io.stdout.write(help), 0;
  io.stderr.write(name ? `Error: unknown command ${name}\n\n${help}` : help);
  return 2;
};
const command: Command = async (args, io) => (commands[name] ? (await commands[name]()).run(args, io) : usage(args, io));
runCommand(command, argv, processIo()).then((code) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2_000).unref(); // never hang on a half-closed socket
});
