// A TCP proxy in front of the edge that can stall: freeze() stops reading and writing on every
// connection it carries while keeping them open (a NAT that stops passing bytes); new connections
// made after thaw() pass again.
import { connect, createServer } from 'node:net';

export async function startStallProxy(targetPort) {
  const pairs = new Set();
  let frozen = false;
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    if (frozen) freezePair(pair);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const freezePair = ({ client, upstream }) => {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  };
  return {
    port: server.address().port,
    freeze() {
      frozen = true;
      for (const p of pairs) freezePair(p);
    },
    thaw() {
      frozen = false;
    },
    stop() {
      for (const p of pairs) (p.client.destroy(), p.upstream.destroy());
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
