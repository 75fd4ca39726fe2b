export { Broker, type BrokerOptions } from './broker.ts';
export { Connection, type ConnectionSnapshot, type ConnectionState } from './connection.ts';
export { defaultConfig, NeverExpires, type BrokerConfig } from './config.ts';
export type { Hooks, ClientInfo, Verdict } from './hooks.ts';
export type * from './ports.ts';
export { matches } from './topic-match.ts';
export { TopicTrie } from './topic-trie.ts';
