// The broker settings every bench run uses, and the sharded topology's object counts.

/**
 * The edge broker's settings in every scenario (Mosquitto gets the same queue bound). No limit of
 * its own on the messages in flight to a 3.1.1 client (65,535, as many as packet ids allow), as
 * Aedes and Mosquitto (`max_inflight_messages 0`) run: with 100, a drained queue is a ping-pong of
 * 100 messages per round trip and durable write, and measures this VM's disk more than the broker.
 * BENCH_MAX_INFLIGHT=100 runs it as runs before 2026-11-30 did.
 */
export const benchVars = { MQTT_MAX_QUEUED_MESSAGES: '20000', MQTT_MAX_INFLIGHT: process.env.BENCH_MAX_INFLIGHT ?? '65535' };

/** The sharded topology of the bench: 3 gateways, 4 topic shards, 2 session objects. */
export const shardedVars = { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' };
