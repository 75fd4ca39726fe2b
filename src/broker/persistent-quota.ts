// The namespace's quota on persistent sessions (MQTT_MAX_PERSISTENT_SESSIONS): sessions that
// outlive their connection, connected or away. Default topology: the one object counts its own
// store (handlers/connect.ts). Sharded: each session object keeps its share for the client ids that
// hash to it (roles/session-owner.ts), as each topic shard keeps its share of the retained quota.
import { MqttError, ReasonCode } from '../protocol/index.ts';
import type { BrokerConfig } from './config.ts';

/** Why a CONNECT was refused when a new persistent session would pass the quota. */
export const persistentQuotaMessage = 'the namespace holds as many persistent sessions as it may';

/** The refusal: CONNACK 0x97 Quota exceeded (3.x: return code 3, Server unavailable), counted as refused. */
export function persistentQuotaExceeded(): MqttError {
  return new MqttError(ReasonCode.QuotaExceeded, persistentQuotaMessage);
}

/**
 * Persistent sessions one of `sessionObjects` session objects may hold: the quota shared evenly,
 * rounded up (so the namespace holds at most sessionObjects × this).
 */
export function persistentShare(config: Pick<BrokerConfig, 'maxPersistentSessions'>, sessionObjects: number): number {
  return Math.ceil(config.maxPersistentSessions / sessionObjects);
}
