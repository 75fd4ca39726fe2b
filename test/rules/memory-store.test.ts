import { MemoryRuleStore } from '../../src/rules/memory-store.ts';
import { runRuleStoreSuite } from '../conformance/rule-store.case.ts';

runRuleStoreSuite('memory', async (body) => body(new MemoryRuleStore()));
