// The plain definition of topic matching, used by stores and as the oracle for TopicTrie.

/** Does a (non-shared) topic filter match a topic name? [MQTT-4.7.1-1..3] */
export function matches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] a leading wildcard does not match a topic beginning with '$'
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true; // '#' also matches the parent level: 'a/#' matches 'a'
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** The filter's levels before its first wildcard, joined: a prefix every matching topic shares. */
export function literalPrefix(filter: string): string {
  const levels = filter.split('/');
  const end = levels.findIndex((level) => level === '+' || level === '#');
  return end === -1 ? filter : levels.slice(0, end).join('/');
}

/** True for a topic or filter inside $SYS. */
export const isSys = (topicOrFilter: string): boolean =>
  topicOrFilter.startsWith('$SYS') && (topicOrFilter.length === 4 || topicOrFilter.charCodeAt(4) === 0x2f); // its first level, no array built
