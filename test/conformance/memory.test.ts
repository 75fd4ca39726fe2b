import { MemoryRetainedStore } from '../../src/broker/memory/memory-retained-store.ts';
import { MemorySessionStore } from '../../src/broker/memory/memory-session-store.ts';
import { runStoreSuite } from './stores.case.ts';

runStoreSuite('memory', async (body) => body({ sessions: new MemorySessionStore(), retained: new MemoryRetainedStore() }));
