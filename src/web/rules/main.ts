// The Rules page: every rule of the namespace (?ns=) with its counters from /api/rules, refreshed
// every 2 s; enable or disable one; read a rule's dead letters, replay or delete them. It speaks
// the HTTP API, so a broker with MQTT_ADMIN_TOKEN asks for the token (kept in this tab only).
import { byId, showState } from '../shared/page.ts';

interface RuleView {
  name: string; source: 'file' | 'api'; enabled: boolean; topic: string; action: string; problem?: string;
  counters: { matched: number; delivered: number; retried: number; deadLettered: number; dropped: number; refused: number };
  outbox: { messages: number }; deadLetters: { messages: number }; lagMs: number; lastError?: string;
}
interface DeadLetter { seq: number; topic: string; payload: string; encoding: string; attempts: number; failedAt: string; error: string }

const ns = new URLSearchParams(location.search).get('ns') ?? 'default';
const tokenKey = 'edge-mqtt.admin-token';
const status = byId('status');
let open: string | undefined;

function token(): string | null {
  try {
    return sessionStorage.getItem(tokenKey);
  } catch {
    return null;
  }
}

/** One API call; a 401 shows the token form and ends the refresh until a token is given. */
async function api<T>(path: string, method = 'GET'): Promise<T> {
  const headers: Record<string, string> = {};
  const t = token();
  if (t) headers.authorization = `Bearer ${t}`;
  const res = await fetch(`${path}${path.includes('?') ? '&' : '?'}ns=${encodeURIComponent(ns)}`, { method, headers });
  if (res.status === 401) {
    byId('token-form').hidden = false;
    byId('token-why').textContent = t ? 'That token was refused.' : 'The HTTP API needs the admin token (MQTT_ADMIN_TOKEN).';
    throw new Error('admin token needed');
  }
  const body = (await res.json()) as T & { message?: string };
  if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
  return body;
}

const labels = ['Rule', 'Topic', 'Action', 'Matched', 'Delivered', 'Retried', 'Dead', 'Dropped / refused', 'Outbox', 'Lag', 'Last error', ''];

const cell = (text: string | number, className?: string) => {
  const td = document.createElement('td');
  td.textContent = String(text);
  if (className) td.className = className;
  return td;
};

const lag = (ms: number) => (ms === 0 ? '–' : ms < 10_000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`);

function row(r: RuleView): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.dataset.rule = r.name;
  tr.dataset.enabled = String(r.enabled);
  const name = cell(r.name, 'topic');
  if (r.source === 'file') name.append(Object.assign(document.createElement('span'), { className: 'badge', textContent: 'file' }));
  const c = r.counters;
  const dead = document.createElement('td');
  const deadButton = Object.assign(document.createElement('button'), { type: 'button', className: 'link', textContent: String(r.deadLetters.messages) });
  deadButton.dataset.dead = r.name;
  deadButton.addEventListener('click', () => void showDead(r.name));
  dead.append(deadButton);
  const toggle = Object.assign(document.createElement('button'), { type: 'button', className: 'secondary', textContent: r.enabled ? 'Disable' : 'Enable' });
  toggle.dataset.toggle = r.name;
  toggle.addEventListener('click', () => void api(`/api/rules/${encodeURIComponent(r.name)}/${r.enabled ? 'disable' : 'enable'}`, 'POST').then(refresh, fail));
  const actions = document.createElement('td');
  actions.append(toggle);
  tr.append(name, cell(r.topic, 'topic'), cell(r.action), cell(c.matched, 'num'), cell(c.delivered, 'num'), cell(c.retried, 'num'), dead,
    cell(`${c.dropped} / ${c.refused}`, 'num'), cell(r.outbox.messages, 'num'), cell(lag(r.lagMs), 'num'), cell(r.problem ?? r.lastError ?? '', 'error'), actions);
  [...tr.children].forEach((td, i) => ((td as HTMLElement).dataset.label = labels[i])); // the phone layout's captions
  return tr;
}

async function refresh(): Promise<void> {
  const { rules } = await api<{ rules: RuleView[] }>('/api/rules');
  byId('rules-body').replaceChildren(...rules.map(row));
  byId('rule-count').textContent = String(rules.length);
  byId('rules-empty').hidden = rules.length > 0;
  showState(status, 'connected', `namespace ${ns}`);
  if (open) await showDead(open);
}

async function showDead(name: string): Promise<void> {
  open = name;
  const { deadLetters } = await api<{ deadLetters: DeadLetter[] }>(`/api/rules/${encodeURIComponent(name)}/dead-letters?limit=100`);
  byId('dead').hidden = false;
  byId('dead-rule').textContent = name;
  byId('dead-count').textContent = String(deadLetters.length);
  byId('dead-empty').hidden = deadLetters.length > 0;
  byId('dead-list').replaceChildren(...deadLetters.map((d) => {
    const li = Object.assign(document.createElement('li'), { className: 'retained-item' });
    const meta = Object.assign(document.createElement('div'), { className: 'meta' });
    meta.append(Object.assign(document.createElement('span'), { className: 'topic', textContent: d.topic }),
      Object.assign(document.createElement('span'), { className: 'muted', textContent: `#${d.seq} · ${d.attempts} ${d.attempts === 1 ? 'try' : 'tries'} · ${new Date(d.failedAt).toLocaleTimeString()} · ${d.error}` }));
    li.append(meta, Object.assign(document.createElement('pre'), { className: 'preview', textContent: d.encoding === 'utf8' ? d.payload : `base64: ${d.payload}` }));
    return li;
  }));
}

function fail(err: unknown): void {
  showState(status, 'error', err instanceof Error ? err.message : String(err));
}

byId<HTMLFormElement>('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  try {
    sessionStorage.setItem(tokenKey, byId<HTMLInputElement>('token').value);
  } catch {
    // storage off: asked again next time
  }
  byId('token-form').hidden = true;
  refresh().catch(fail);
});
const dead = (action: 'replay' | 'delete') => () => {
  if (!open) return;
  const path = `/api/rules/${encodeURIComponent(open)}/dead-letters${action === 'replay' ? '/replay' : ''}`;
  api(path, action === 'replay' ? 'POST' : 'DELETE').then(refresh, fail);
};
byId('dead-replay').addEventListener('click', dead('replay'));
byId('dead-delete').addEventListener('click', dead('delete'));
byId('dead-close').addEventListener('click', () => {
  open = undefined;
  byId('dead').hidden = true;
});

showState(status, 'connecting');
refresh().catch(fail);
setInterval(() => {
  if (document.visibilityState === 'visible' && byId('token-form').hidden) refresh().catch(fail);
}, 2000);
