import { runBrokerSuite, suiteVars } from './suite.ts';
import { startBroker } from './server.ts';

/** Gateways, shards and session objects as separate Durable Objects, talking over RPC. */
export const shardedVars = { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' };

runBrokerSuite('sharded topology (3 gateways x 4 topic shards x 2 session objects)', () => startBroker({ vars: { ...suiteVars, ...shardedVars } }));
