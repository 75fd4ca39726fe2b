// What both pages share: elements by id, this broker's URL, and the connection state pill.

/** An element the page must have; a missing one is a bug in the page, said loudly. */
export function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

/** The broker that served this page: ws:// or wss:// to its /mqtt. */
export function defaultBrokerUrl(loc: Location = location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/mqtt`;
}

export type LinkState = 'offline' | 'connecting' | 'connected' | 'reconnecting' | 'error';

export function showState(pill: HTMLElement, state: LinkState, detail = ''): void {
  pill.dataset.state = state;
  pill.textContent = detail ? `${state}: ${detail}` : state;
}
