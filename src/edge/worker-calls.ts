// What a namespace's gateway object does for Worker RPC (rpc.ts): the ClientInfo a Worker's
// declared identity stands for (the user store's rules for its user name, else the ACL file's),
// MQTT errors carried back as values (an RPC exception keeps its message only), and the retained
// look-up that asks every topic shard in the sharded topology.
import type { ClientInfo } from '../broker/hooks.ts';
import type { Message } from '../broker/ports.ts';
import { pageBytes } from '../broker/remote.ts';
import type { UserDirectory } from '../broker/auth/index.ts';
import { MqttError } from '../protocol/index.ts';
import { objectName, type Topology } from './topology.ts';

/** Who a calling Worker says it is, from its service binding's props. */
export interface WorkerIdentity {
  namespace: string;
  /** The user name the ACL knows it by (%u); none: the ACL's anonymous rules. */
  username?: string;
  /** The client id the ACL knows it by (%c). */
  clientId: string;
}

/** A call's answer, or the MQTT error it ended in. */
export type Outcome<T> = { value: T } | { reasonCode: number; message: string };

export async function outcome<T>(work: () => T | Promise<T>): Promise<Outcome<T>> {
  try {
    return { value: await work() };
  } catch (err) {
    if (err instanceof MqttError) return { reasonCode: err.reasonCode, message: err.message };
    throw err;
  }
}

export async function workerClient(users: UserDirectory, identity: WorkerIdentity): Promise<ClientInfo> {
  const stored = identity.username === undefined ? undefined : await users.lookup(identity.username);
  return {
    clientId: identity.clientId, username: identity.username, protocolVersion: 5,
    principal: { method: 'worker', username: identity.username, ...(stored?.acl && { acl: stored.acl }) },
  };
}

/** Every shard's retained messages matching a checked filter, within one RPC answer's bytes in all. */
export async function retainedFromShards(env: Env, namespace: string, topology: Topology, filter: string): Promise<{ messages: Message[]; more: boolean }> {
  const share = Math.floor(pageBytes / topology.shards);
  const answers = await Promise.all(Array.from({ length: topology.shards }, (_, i) => env.SHARD.getByName(objectName(namespace, i)).retained(filter, share)));
  return { messages: answers.flatMap((a) => a.messages) as Message[], more: answers.some((a) => a.more) };
}

/** A retained message as a Worker reads it: no publisher, no retain flag (all are retained). */
export function retainedMessage(m: Message): { topic: string; payload: Uint8Array; qos: Message['qos']; properties?: Message['properties']; expiresAt?: number } {
  return { topic: m.topic, payload: m.payload, qos: m.qos, ...(m.properties && { properties: m.properties }), ...(m.expiresAt !== undefined && { expiresAt: m.expiresAt }) };
}
