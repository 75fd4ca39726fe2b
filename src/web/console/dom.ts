// Small DOM builders the console's parts share.

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className = '', text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A topic that wraps after a '/' (between levels) or a hyphen, inside a word only when one is wider than the screen. */
export function topicText(topic: string, className = 'topic'): HTMLSpanElement {
  const span = el('span', className);
  topic.split('/').forEach((level, i) => {
    if (i > 0) span.append('/', el('wbr'));
    span.append(level);
  });
  span.title = topic;
  return span;
}

/** "12:01:02.345": messages can arrive many a second. */
export const clock = (d: Date) => `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
