// The connect-once path shared by pub and sub: build a Client from parsed options, connect, and
// turn a failure into the exit code a script can test (4 unreachable, 5 refused).
import { Backoff } from './backoff.ts';
import { Client } from './client.ts';
import { ConnectRefused } from './connection.ts';
import type { ConnackPacket, PublishPacket, Subscription } from './codec.ts';
import { CommandError, ExitCode } from './exit-codes.ts';
import type { Io } from './io.ts';
import { createLogger, type Logger } from './log.ts';
import { connectPacket, defaultClientId, endpoint, logLevel, tlsOptions, type Values } from './options.ts';

export interface Session {
  client: Client;
  log: Logger;
  connack: ConnackPacket;
}

export interface SessionOptions {
  reconnect: boolean;
  subscriptions?: Subscription[];
  /** Installed before CONNECT: a resumed session's queued messages follow CONNACK at once. */
  onMessage?: (p: PublishPacket) => unknown;
}

export async function openSession(v: Values, io: Io, tool: string, opts: SessionOptions): Promise<Session> {
  const e = endpoint(v);
  const log = createLogger({ level: logLevel(v), write: (l) => io.stderr.write(l), timestamps: false }, tool);
  const client = new Client({
    endpoint: e,
    tls: tlsOptions(v),
    connect: connectPacket(v, e, io.env, defaultClientId(tool)),
    log,
    reconnect: opts.reconnect ? new Backoff({ base: 1_000, cap: 30_000 }) : undefined,
    subscriptions: opts.subscriptions,
  });
  if (opts.onMessage) client.onMessage = opts.onMessage;
  log.debug(`connecting to ${e.display} as ${client.opts.connect.clientId} (MQTT ${client.opts.connect.protocolVersion})`);
  try {
    const connack = await client.connect();
    log.debug(`connected (session present: ${connack.sessionPresent})`);
    return { client, log, connack };
  } catch (err) {
    if (err instanceof ConnectRefused) throw new CommandError(ExitCode.refused, err.message);
    throw new CommandError(ExitCode.unreachable, `cannot connect to ${e.display}: ${(err as Error).message}`);
  }
}

/** Resolves when the signal aborts (SIGINT/SIGTERM). */
export const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
