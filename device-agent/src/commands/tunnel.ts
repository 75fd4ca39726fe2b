// device-agent tunnel: local TCP MQTT to the edge. Plain mode passes bytes through, one WebSocket
// per client; --buffer makes the agent the local endpoint with a spool for QoS 1/2 publishes.
import type { Socket } from 'node:net';
import { Backoff } from '../backoff.ts';
import { Client } from '../client.ts';
import { parseHostPort } from '../endpoint.ts';
import { CommandError, ExitCode } from '../exit-codes.ts';
import help from '../help/tunnel.txt';
import type { Io } from '../io.ts';
import { closeServer, listen } from '../listener.ts';
import { createLogger, type Logger } from '../log.ts';
import { count } from '../messages.ts';
import { endpoint, endpointOptions, int, logLevel, logOptions, parse, str, tlsOptions, type Values } from '../options.ts';
import { stallTimeout } from '../spool/options.ts';
import { aborted } from '../session.ts';
import { Forwarder } from '../spool/forwarder.ts';
import { openSpool, spoolOptions, spoolOptionTable } from '../spool/options.ts';
import { Spool } from '../spool/spool.ts';
import { BufferedSession } from '../tunnel/buffered.ts';
import { Pipe, type PipeOptions } from '../tunnel/pipe.ts';
import { agentClient } from '../tunnel/agent-client.ts';

const options = {
  ...endpointOptions,
  ...logOptions,
  ...spoolOptionTable,
  listen: { type: 'string' },
  username: { type: 'string', short: 'u' },
  pw: { type: 'string', short: 'P' },
  token: { type: 'string' },
  id: { type: 'string', short: 'i' },
  buffer: { type: 'boolean' },
  'max-clients': { type: 'string' },
  'connect-timeout': { type: 'string' },
  'stall-timeout': { type: 'string' },
  'edge-keepalive': { type: 'string' },
  'reconnect-min': { type: 'string' },
  'reconnect-max': { type: 'string' },
} as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const { values: v } = parse(argv, options);
  if (v.help) return void io.stdout.write(help), ExitCode.ok;
  if (str(v, 'url') === undefined && str(v, 'host') === undefined) throw new CommandError(ExitCode.usage, '-L URL (the edge) is required');
  const log = createLogger({ level: logLevel(v), write: (l) => io.stderr.write(l) }, 'tunnel');
  const pipe = pipeOptions(v, io, log);
  const backoff = { base: int(v, 'reconnect-min', 1, 1, 3600) * 1000, cap: int(v, 'reconnect-max', 60, 1, 86400) * 1000 };
  const buffered = v.buffer ? await startBuffering(v, io, pipe, log, backoff) : undefined;
  const { host, port } = parseHostPort(str(v, 'listen') ?? '127.0.0.1:1883', '127.0.0.1', 1883);
  const maxClients = int(v, 'max-clients', 1000, 1);
  const sockets = new Set<Socket>();
  const server = await listen(host, port, (socket) => {
    if (sockets.size >= maxClients) return void (log.warn(`refusing ${socket.remoteAddress}: --max-clients ${maxClients} reached`), socket.destroy());
    sockets.add(socket);
    const done = () => sockets.delete(socket);
    if (buffered) new BufferedSession(socket, { ...pipe, spool: buffered.spool, edgeLimit: buffered.edgeLimit, connackWaitMs: 2_000, backoff }, done);
    else new Pipe(socket, pipe, done);
  }).catch(async (err) => {
    await buffered?.stop();
    throw err;
  });
  log.info(`listening on ${host}:${port}, edge ${pipe.endpoint.display}${buffered ? `, buffering in ${buffered.spool.opts.dir}` : ''}`);
  const report = () => log.info(`${count(sockets.size, 'client')}; ${memoryLine()}${buffered ? `; queue ${count(buffered.spool.depth, 'message')}, ${buffered.spool.dropped} dropped` : ''}`);
  process.on('SIGUSR2', report); // `kill -USR2 <pid>`: a status line in the log
  await aborted(io.signal);
  process.off('SIGUSR2', report);
  log.info(`stopping: closing ${count(sockets.size, 'client connection')}`);
  for (const s of sockets) s.destroy();
  await closeServer(server);
  await buffered?.stop();
  return ExitCode.ok;
}

function memoryLine(): string {
  const m = process.memoryUsage();
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
  return `memory: rss ${mb(m.rss)}, heap ${mb(m.heapUsed)} of ${mb(m.heapTotal)}, buffers ${mb(m.arrayBuffers)}`;
}

function pipeOptions(v: Values, io: Io, log: Logger): PipeOptions {
  const e = endpoint(v);
  if (e.transport !== 'ws') throw new CommandError(ExitCode.usage, '-L must be the edge\'s ws:// or wss:// URL');
  return {
    endpoint: e,
    tls: tlsOptions(v),
    credentials: {
      username: str(v, 'username') ?? io.env.DEVICE_AGENT_USERNAME,
      password: str(v, 'pw') ?? io.env.DEVICE_AGENT_PASSWORD,
      token: str(v, 'token') ?? io.env.DEVICE_AGENT_TOKEN,
    },
    log,
    connectTimeoutMs: int(v, 'connect-timeout', 10, 1, 600) * 1000,
    stallMs: stallTimeout(v),
    edgeKeepalive: edgeKeepalive(v),
  };
}

/**
 * --edge-keepalive <seconds> (--buffer only): the MQTT keepalive of the agent's own connections to
 * the edge. Each PINGREQ wakes the edge's Durable Object, a WebSocket ping does not; so a long one
 * needs --stall-timeout, whose pings then find a dead edge instead.
 */
function edgeKeepalive(v: Values): number | undefined {
  const seconds = str(v, 'edge-keepalive') === undefined ? undefined : int(v, 'edge-keepalive', 60, 0, 65535);
  if (seconds === undefined) return undefined;
  if (!v.buffer) throw new CommandError(ExitCode.usage, '--edge-keepalive needs --buffer (in plain mode the device\'s own keepalive goes to the edge: set it there)');
  if ((seconds === 0 || seconds > 60) && stallTimeout(v) === 0) {
    throw new CommandError(ExitCode.usage, `--edge-keepalive ${seconds} needs --stall-timeout: without PINGREQs in time, WebSocket pings are what finds a dead edge`);
  }
  return seconds;
}

/** The spool, and the agent's own edge client that drains it. */
async function startBuffering(v: Values, io: Io, pipe: PipeOptions, log: Logger, backoff: { base: number; cap: number }) {
  const spool = new Spool(spoolOptions(v, io.env, 'tunnel'));
  openSpool(spool, log);
  const qlog = log.child('queue');
  const client: Client = agentClient(v, pipe, qlog, new Backoff(backoff));
  const forwarder = new Forwarder(spool, client, qlog);
  client.onConnect = () => {
    qlog.info(`forwarding client ${client.opts.connect.clientId} connected to the edge`);
    forwarder.resume();
  };
  client.onDisconnect = (why) => qlog.warn(`forwarding client lost the edge: ${why}`);
  client.start();
  return {
    spool,
    edgeLimit: () => client.maxPacketSize,
    async stop() {
      client.stop();
      await spool.close();
    },
  };
}
