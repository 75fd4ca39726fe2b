// Log lines on stderr, one event per line: `2024-05-01T10:00:00.000Z info bridge edge: connected`.
// systemd's journal and a shell's 2>file both read them; levels filter what is written.
export type Level = 'error' | 'warn' | 'info' | 'debug';
const rank: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };
const label: Record<Level, string> = { error: 'Error', warn: 'Warning', info: 'Info', debug: 'Debug' };

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  child(scope: string): Logger;
  readonly level: Level;
}

export interface LogOptions {
  level?: Level;
  write: (line: string) => void;
  timestamps?: boolean;
}

export function createLogger(opts: LogOptions, scope = ''): Logger {
  const level = opts.level ?? 'info';
  const emit = (l: Level) => (msg: string) => {
    if (rank[l] > rank[level]) return;
    // a daemon's line for the journal; a one-shot command's line like the "Error: …" it exits with
    if (opts.timestamps === false) opts.write(`${label[l]}: ${msg}\n`);
    else opts.write(`${new Date().toISOString()} ${l} ${scope ? `${scope}: ` : ''}${msg}\n`);
  };
  return {
    level,
    error: emit('error'),
    warn: emit('warn'),
    info: emit('info'),
    debug: emit('debug'),
    child: (s: string) => createLogger(opts, scope ? `${scope} ${s}` : s),
  };
}

export function isLevel(s: string): s is Level {
  return s in rank;
}

/** Human sizes for queue-depth lines. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
