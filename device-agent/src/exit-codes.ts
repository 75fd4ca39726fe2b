// Exit codes a shell script or systemd can act on. 27 matches mosquitto_sub's -W timeout.
export const ExitCode = {
  ok: 0,
  /** The connection was lost or an unexpected error ended the command. */
  failure: 1,
  /** Bad command line: unknown option, missing value, conflicting options. */
  usage: 2,
  /** The configuration file cannot be read or is invalid. */
  config: 3,
  /** The broker cannot be reached (refused, unreachable, TLS or WebSocket handshake failed). */
  unreachable: 4,
  /** The broker answered CONNACK with an error (bad credentials, not authorized, …). */
  refused: 5,
  /** A local address cannot be listened on (in use, permission). */
  listen: 6,
  /** -W: no message (or not -C of them) arrived in time. */
  timeout: 27,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends a command with a chosen exit code; the message is printed as is. */
export class CommandError extends Error {
  readonly exitCode: number;

  constructor(exitCode: number, message: string) {
    super(message);
    this.name = 'CommandError';
    this.exitCode = exitCode;
  }
}
