// The broker settings every bench run uses, and the sharded topology's object counts.

/** The edge broker's settings in every scenario (Mosquitto gets the same queue bound). */
export const benchVars = { MQTT_MAX_QUEUED_MESSAGES: '20000', MQTT_MAX_INFLIGHT: '100' };

/** The sharded topology of the bench: 3 gateways, 4 topic shards, 2 session objects. */
export const shardedVars = { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' };
