import { runBrokerSuite, suiteVars } from './suite.ts';
import { startBroker } from './server.ts';

runBrokerSuite('default topology (one Durable Object per namespace)', () => startBroker({ vars: suiteVars }));
