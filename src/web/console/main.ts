// The MQTT console page: connection form and state, subscriptions, live messages, publish form
// and retained browser, wired to one ConsoleSession.
import { byId, defaultBrokerUrl, showState } from '../shared/page.ts';
import type { PayloadView } from '../shared/payload.ts';
import { MessageList } from './messages.ts';
import { browseRetained, renderRetained } from './retained.ts';
import { ConsoleSession, type ConnectForm } from './session.ts';

type Qos = 0 | 1 | 2;

const input = (id: string) => byId<HTMLInputElement>(id);
const select = (id: string) => byId<HTMLSelectElement>(id);
const status = byId('status');
const log = byId<HTMLOListElement>('log');
const messages = new MessageList(byId('messages'), byId('message-count'));
const actions = ['subscribe-button', 'publish-button', 'browse'].map((id) => byId<HTMLButtonElement>(id));

function note(line: string): void {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${line}`;
  log.prepend(li);
  while (log.children.length > 50) log.lastElementChild?.remove();
}

const session = new ConsoleSession({
  state: (state, detail) => {
    showState(status, state, detail);
    const reconnects = byId('reconnects');
    reconnects.hidden = session.reconnects === 0;
    reconnects.textContent = `${session.reconnects} reconnect${session.reconnects === 1 ? '' : 's'}`;
    for (const b of actions) b.disabled = state !== 'connected';
    byId('connect').textContent = state === 'offline' || state === 'error' ? 'Connect' : 'Disconnect';
  },
  log: note,
  message: (m) => messages.add(m),
});

function form(): ConnectForm {
  return {
    url: input('url').value, clientId: input('client-id').value, username: input('username').value,
    password: input('password').value, protocolVersion: select('version').value === '5' ? 5 : 4,
    keepalive: Number(input('keepalive').value) || 0, clean: input('clean').checked,
  };
}

/** Runs an action from the page; a failure goes to the log instead of vanishing. */
const attempt = (action: () => Promise<void>) => action().catch((err: Error) => note(`failed: ${err.message}`));

function addChip(filter: string, qos: number): void {
  const list = byId('subscriptions');
  list.querySelector(`li[data-filter="${CSS.escape(filter)}"]`)?.remove();
  const li = document.createElement('li');
  li.dataset.filter = filter;
  li.textContent = `${filter} (QoS ${qos})`;
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.textContent = '×';
  remove.title = `Unsubscribe from ${filter}`;
  remove.addEventListener('click', () => attempt(async () => {
    await session.unsubscribe(filter);
    li.remove();
    note(`unsubscribed from ${filter}`);
  }));
  li.append(remove);
  list.append(li);
}

byId('connect-form').addEventListener('submit', (e) => {
  e.preventDefault();
  if (session.client) return session.disconnect();
  session.connect(form());
});

byId('subscribe-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const filter = input('sub-filter').value;
  attempt(async () => {
    const granted = await session.subscribe(filter, Number(select('sub-qos').value) as Qos);
    addChip(filter, granted);
    note(`subscribed to ${filter}, granted QoS ${granted}`);
  });
});

byId('publish-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const topic = input('pub-topic').value;
  attempt(async () => {
    await session.publish(topic, byId<HTMLTextAreaElement>('pub-payload').value, Number(select('pub-qos').value) as Qos, input('pub-retain').checked);
    note(`published to ${topic}`);
  });
});

select('payload-view').addEventListener('change', () => messages.setView(select('payload-view').value as PayloadView));
byId('clear').addEventListener('click', () => messages.clear());

byId('retained-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const filter = input('ret-filter').value;
  const noteEl = byId('retained-note');
  noteEl.textContent = `looking for messages retained under ${filter}…`;
  attempt(async () => {
    const items = await browseRetained(form(), filter).catch((err: Error) => {
      noteEl.textContent = '';
      throw err;
    });
    noteEl.textContent = `${items.length} retained message${items.length === 1 ? '' : 's'} under ${filter}`;
    renderRetained(byId<HTMLTableElement>('retained').tBodies[0], items, select('payload-view').value as PayloadView, (topic) => attempt(async () => {
      await session.publish(topic, '', 1, true); // empty and retained clears the topic [MQTT-3.3.1-6]; QoS 1: gone once acked
      byId('retained').querySelector(`tr[data-topic="${CSS.escape(topic)}"]`)?.remove();
      note(`cleared the retained message on ${topic}`);
    }));
  });
});

input('url').value = defaultBrokerUrl();
input('client-id').value = `console-${Math.random().toString(16).slice(2, 8)}`;
