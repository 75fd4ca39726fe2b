// The MQTT console page: connection and its state, subscriptions with colours, a topic tree, the
// live message list with a detail pane, publishing (with v5 properties) and the retained browser,
// wired to one ConsoleSession. On a phone the sections are tabs; on a wide screen, columns.
import { loadCredentials, saveCredentials } from '../shared/credentials.ts';
import { byId, defaultBrokerUrl, showState } from '../shared/page.ts';
import type { PayloadView } from '../shared/payload.ts';
import { Detail } from './detail.ts';
import { MessageList } from './messages.ts';
import { parseUserProperties } from './publish.ts';
import { browseRetained, renderRetained } from './retained.ts';
import { ConsoleSession, type ConnectForm, type Qos } from './session.ts';
import { Subscriptions } from './subscriptions.ts';
import { TopicTree } from './topic-tree.ts';

const input = (id: string) => byId<HTMLInputElement>(id);
const select = (id: string) => byId<HTMLSelectElement>(id);
const payloadView = () => select('payload-view').value as PayloadView;
const actions = ['subscribe-button', 'publish-button', 'browse'].map((id) => byId<HTMLButtonElement>(id));
const messages = new MessageList(byId('messages'), byId('message-count'), byId('messages-empty'));
const tree = new TopicTree(byId('topics'), byId('topic-count'), byId('topics-empty'));
const detail = new Detail();

function note(line: string, again = false): void {
  const log = byId('log');
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString([], { hour12: false })} ${line}`;
  if (again) log.firstElementChild?.remove();
  log.prepend(li);
  while (log.children.length > 100) log.lastElementChild?.remove();
}

/** Runs an action from the page; a failure goes to the log (and `shown`, if given) instead of vanishing. */
const attempt = (action: () => Promise<void>, shown?: HTMLElement) => action().catch((err: Error) => {
  note(`failed: ${err.message}`);
  if (shown) shown.textContent = err.message;
});

let linkState = 'offline';
const session = new ConsoleSession({
  state: (state, detailText) => {
    linkState = state;
    showState(byId('status'), state);
    byId('status-detail').textContent = detailText ?? (state === 'connected' ? `${input('url').value} as ${input('client-id').value}` : '');
    const reconnects = byId('reconnects');
    reconnects.hidden = session.reconnects === 0;
    reconnects.textContent = `${session.reconnects} reconnect${session.reconnects === 1 ? '' : 's'}`;
    for (const b of actions) b.disabled = state !== 'connected';
    byId('connect').textContent = state === 'offline' || state === 'error' ? 'Connect' : 'Disconnect';
    // while a connection is up or being tried, its settings fold away behind a one-line summary
    const folded = state !== 'offline' && state !== 'error';
    byId('connection').toggleAttribute('data-folded', folded);
    byId('connection-summary').hidden = !folded;
    byId('connection-summary').textContent = `${input('url').value} as ${input('client-id').value}, MQTT ${session.version === 5 ? '5' : '3.1.1'}`;
    byId('pub-props').hidden = session.version !== 5;
  },
  log: note,
  message: (m) => {
    const via = subscriptions.of(m.topic, m.properties.subscriptionIdentifier);
    messages.add(m, via?.colour);
    tree.add(m.topic, new TextDecoder().decode(m.payload.subarray(0, 200)));
  },
});

const subscriptions = new Subscriptions(byId('subscriptions'), (s) => attempt(async () => {
  await session.unsubscribe(s.filter);
  subscriptions.drop(s.filter);
  note(`unsubscribed from ${s.filter}`);
}));

function form(): ConnectForm {
  return {
    url: input('url').value, clientId: input('client-id').value, username: input('username').value,
    password: input('password').value, protocolVersion: select('version').value === '5' ? 5 : 4,
    keepalive: Number(input('keepalive').value) || 0, clean: input('clean').checked,
  };
}

/** Phone: one section at a time, chosen by the tab bar. */
function showTab(tab: string): void {
  document.body.dataset.tab = tab;
  for (const b of document.querySelectorAll<HTMLButtonElement>('nav.tabs button')) {
    if (b.dataset.tab === tab) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  if (tab === 'retained' || tab === 'messages') showView(tab);
}

function showView(view: string): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('.stream-tabs button')) b.setAttribute('aria-selected', String(b.dataset.view === view));
  byId('messages-view').hidden = view !== 'messages';
  byId('retained-view').hidden = view !== 'retained';
}

for (const b of document.querySelectorAll<HTMLButtonElement>('nav.tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab!));
for (const b of document.querySelectorAll<HTMLButtonElement>('.stream-tabs button')) b.addEventListener('click', () => showView(b.dataset.view!));

byId('connect-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (linkState !== 'offline' && linkState !== 'error') return session.disconnect();
  subscriptions.clear();
  saveCredentials(input('url').value, { username: input('username').value, password: input('password').value });
  session.connect(form());
  showTab('messages');
});

byId('subscribe-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const filter = input('sub-filter').value;
  attempt(async () => {
    const { granted, id } = await session.subscribe(filter, Number(select('sub-qos').value) as Qos);
    subscriptions.add(filter, granted, id);
    note(`subscribed to ${filter}, granted QoS ${granted}`);
  });
});

byId('publish-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const result = byId('publish-result');
  result.textContent = '';
  attempt(async () => {
    const topic = input('pub-topic').value;
    const properties = session.version === 5 ? {
      contentType: input('pub-content-type').value || undefined,
      messageExpiryInterval: Number(input('pub-expiry').value) || undefined,
      responseTopic: input('pub-response-topic').value || undefined,
      userProperties: parseUserProperties(byId<HTMLTextAreaElement>('pub-user-props').value),
    } : undefined;
    const said = await session.publish(topic, byId<HTMLTextAreaElement>('pub-payload').value, {
      qos: Number(select('pub-qos').value) as Qos, retain: input('pub-retain').checked, properties,
    });
    result.textContent = said;
    note(said);
  }, result);
});

select('payload-view').addEventListener('change', () => {
  messages.setView(payloadView());
  detail.setView(payloadView());
});
byId('clear').addEventListener('click', () => {
  messages.clear();
  tree.clear();
  detail.close();
});
byId('pause').addEventListener('click', () => {
  messages.paused = !messages.paused;
  byId('pause').setAttribute('aria-pressed', String(messages.paused));
  byId('pause').textContent = messages.paused ? 'Resume' : 'Pause';
});
input('search').addEventListener('input', () => messages.narrow({ search: input('search').value }));
tree.onPick = (topic) => {
  messages.narrow({ topic });
  const chip = byId('topic-filter');
  chip.hidden = topic === null;
  chip.querySelector('span')!.textContent = topic === null ? '' : `${topic} and below`;
};
byId('topic-filter').querySelector('button')!.addEventListener('click', () => tree.pick(null));
messages.onSelect = (row) => {
  const via = subscriptions.all.find((s) => s.colour === row.colour);
  detail.show(row.message, payloadView(), via?.filter);
};
byId('detail-close').addEventListener('click', () => detail.close());
byId('detail-copy').addEventListener('click', () => attempt(async () => {
  if (detail.message) await navigator.clipboard.writeText(new TextDecoder().decode(detail.message.payload));
}));
byId('detail-reuse').addEventListener('click', () => {
  const m = detail.message;
  if (!m) return;
  input('pub-topic').value = m.topic;
  byId<HTMLTextAreaElement>('pub-payload').value = new TextDecoder().decode(m.payload);
  select('pub-qos').value = String(m.qos);
  detail.close();
  showTab('publish');
  input('pub-topic').focus();
});

byId('retained-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const filter = input('ret-filter').value;
  const noteEl = byId('retained-note');
  noteEl.textContent = `looking for messages retained under ${filter}…`;
  attempt(async () => {
    const items = await browseRetained(form(), filter);
    noteEl.textContent = `${items.length} retained message${items.length === 1 ? '' : 's'} under ${filter}`;
    renderRetained(byId('retained'), items, payloadView(), (topic) => attempt(async () => {
      await session.publish(topic, '', { qos: 1, retain: true }); // empty and retained clears the topic [MQTT-3.3.1-6]; QoS 1: gone once acked
      byId('retained').querySelector(`li[data-topic="${CSS.escape(topic)}"]`)?.remove();
      note(`cleared the retained message on ${topic}`);
    }));
  }, noteEl);
});

input('url').value = defaultBrokerUrl();
input('client-id').value = `console-${Math.random().toString(16).slice(2, 8)}`;
const saved = loadCredentials(input('url').value);
if (saved) [input('username').value, input('password').value] = [saved.username, saved.password];
