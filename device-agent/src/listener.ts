// The local TCP side: listens where sensors and mosquitto_pub expect a broker (1883) and hands
// each accepted socket to the tunnel. A port that cannot be taken is exit code 6.
import { createServer, type Server, type Socket } from 'node:net';
import { CommandError, ExitCode } from './exit-codes.ts';

export function listen(host: string, port: number, onSocket: (s: Socket) => void): Promise<Server> {
  const server = createServer({ noDelay: true }, onSocket);
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new CommandError(ExitCode.listen, `cannot listen on ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => resolve(server));
  });
}

export const closeServer = (server: Server): Promise<void> => new Promise((r) => server.close(() => r()));
