// The agent's own edge client in buffered mode: it publishes what the spool holds, under -i
// (default device-agent-<hostname>) with the injected credentials, in a persistent MQTT 5 session
// (so that a QoS 2 resend after a reconnect or a restart is recognised by the edge, and the edge's
// Maximum Packet Size is known).
import { hostname } from 'node:os';
import type { Backoff } from '../backoff.ts';
import { Client } from '../client.ts';
import type { ConnectPacket } from '../codec.ts';
import { injectCredentials } from '../credentials.ts';
import type { Logger } from '../log.ts';
import { str, type Values } from '../options.ts';
import type { PipeOptions } from './pipe.ts';

export function agentClient(v: Values, pipe: PipeOptions, log: Logger, reconnect: Backoff): Client {
  const base: ConnectPacket = {
    type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: false, keepalive: pipe.edgeKeepalive ?? 60,
    clientId: str(v, 'id') ?? `device-agent-${hostname()}`.slice(0, 64),
    properties: { sessionExpiryInterval: 0xffffffff },
  };
  return new Client({ endpoint: pipe.endpoint, tls: pipe.tls, connect: injectCredentials(base, pipe.credentials), log, reconnect, connectTimeoutMs: pipe.connectTimeoutMs, stallMs: pipe.stallMs });
}
