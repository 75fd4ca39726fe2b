// Pure routing: which namespace a URL names, and which WebSocket subprotocol to answer with.

export interface Target {
  namespace: string;
}

export const namespacePattern = /^[A-Za-z0-9_-]{1,64}$/;

/** `/` and `/mqtt` are the default namespace; `/mqtt/<namespace>` selects another. */
export function route(url: URL): Target | undefined {
  const path = url.pathname.replace(/\/+$/, '');
  if (path === '' || path === '/mqtt') return { namespace: 'default' };
  const match = /^\/mqtt\/([^/]+)$/.exec(path);
  if (match && namespacePattern.test(match[1])) return { namespace: match[1] };
  return undefined;
}

const mqttSubprotocols = new Set(['mqtt', 'mqttv3.1', 'mqttv3.1.1', 'mqttv5', 'mqttv5.0']);

/** The one offered subprotocol to echo, '' when none was offered, undefined when none is MQTT. */
export function chooseSubprotocol(header: string | null): string | undefined {
  if (!header) return '';
  const offered = header.split(',').map((s) => s.trim()).filter(Boolean);
  return offered.find((p) => mqttSubprotocols.has(p.toLowerCase()));
}
