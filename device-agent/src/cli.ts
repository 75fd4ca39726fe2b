// device-agent: pick the command, run it, exit with its code.
import { processIo, runCommand } from './command.ts';
import { run as bridge } from './commands/bridge.ts';
import { run as pub } from './commands/pub.ts';
import { run as sub } from './commands/sub.ts';
import { run as tunnel } from './commands/tunnel.ts';
import help from './help/main.txt';
import type { Command } from './io.ts';
import { version } from '../package.json';

const commands: Record<string, Command> = { tunnel, bridge, pub, sub };
const [name = '', ...argv] = process.argv.slice(2);
const usage: Command = async (_argv, io) => {
  if (name === '--version' || name === '-V') return io.stdout.write(`device-agent ${version}\n`), 0;
  if (name === '--help' || name === '-h' || name === 'help') return io.stdout.write(help), 0;
  io.stderr.write(name ? `Error: unknown command ${name}\n\n${help}` : help);
  return 2;
};
runCommand(commands[name] ?? usage, argv, processIo()).then((code) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2_000).unref(); // never hang on a half-closed socket
});
