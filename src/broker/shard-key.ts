// Where things live in the sharded topology. A topic belongs to the shard its first level hashes
// to; a filter is registered on that shard, or on every shard when its first level is a wildcard
// (a shared subscription's filter counts, not its $share/<group>/ prefix). A client id belongs to
// the session object it hashes to.
import { parseSharedFilter } from '../protocol/index.ts';

/** FNV-1a over UTF-16 code units: stable across objects and deploys. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const firstLevel = (topic: string): string => {
  const slash = topic.indexOf('/');
  return slash === -1 ? topic : topic.slice(0, slash);
};

export function shardOfTopic(topic: string, shards: number): number {
  return shards === 1 ? 0 : hash(firstLevel(topic)) % shards;
}

export function shardsOfFilter(filter: string, shards: number): number[] {
  const level = firstLevel(parseSharedFilter(filter)?.filter ?? filter);
  if (level === '+' || level === '#') return Array.from({ length: shards }, (_, i) => i);
  return [shardOfTopic(level, shards)];
}

export function sessionObjectOf(clientId: string, objects: number): number {
  return objects === 1 ? 0 : hash(clientId) % objects;
}
