// The delivery log: lists with filters that refresh themselves, and one delivery with its attempts and a retry.
import * as api from './api.js';
import { h, add, clear, field, when, say, badge, alertBox } from './dom.js';
import { state, every } from './state.js';

const STATUSES = ['pending', 'succeeded', 'failed', 'dead'];
const MAX = 1000; // deliveries a list reads

// localTime is the value of a datetime-local input for t.
export function localTime(t) {
  return new Date(t.getTime() - t.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
}

function statusBadge(s) {
  return badge(s, s === 'succeeded' ? 'ok' : s === 'pending' ? '' : 'off');
}

// statusOf is a delivery's status badge and, while it holds its ordering key, a "blocked" badge.
function statusOf(d) {
  return d.blocked ? [statusBadge(d.status), ' ', badge('blocked', 'off')] : statusBadge(d.status);
}

function isoOf(input) {
  return input.value ? new Date(input.value).toISOString() : '';
}

// deliveryTable lists the deliveries under path (a tenant's or an endpoint's), newest first, and polls for new ones.
// names maps endpoint ids to what the list shows for them (when withEndpoint).
export function deliveryTable(path, withEndpoint, names = new Map()) {
  const status = h('select', null, h('option', { value: '' }, 'Any'), STATUSES.map((s) => h('option', { value: s }, s)));
  const type = h('input', { type: 'text', placeholder: 'device.*' });
  // The API lists oldest first, so the page reads a range and shows it newest first: the last 24 hours by default.
  const since = h('input', { type: 'datetime-local', value: localTime(new Date(Date.now() - 24 * 3600e3)) });
  const until = h('input', { type: 'datetime-local' });
  const body = h('tbody', { role: 'rowgroup' });
  const note = h('p', { class: 'muted', role: 'status' });
  const cols = ['Created', 'Event type', withEndpoint ? 'Endpoint' : null, 'Status', 'Attempts', 'Last result'].filter(Boolean);
  let seen = null; // the rows last shown (null: none yet, or the filters changed)
  const load = async () => {
    const q = new URLSearchParams({ limit: '200' });
    if (status.value) q.set('status', status.value);
    if (since.value) q.set('since', isoOf(since));
    if (until.value) q.set('until', isoOf(until));
    const list = await api.all(path + '?' + q, MAX);
    const want = type.value.trim();
    const match = (t) => !want || (want.endsWith('*') ? t.startsWith(want.slice(0, -1)) : t === want);
    const rows = list.filter((d) => match(d.event_type)).reverse();
    const sig = rows.map((d) => d.id + d.status + d.attempts + (d.blocked ? 'b' : '')).join();
    if (sig === seen) return;
    const fresh = seen !== null;
    seen = sig;
    const frag = document.createDocumentFragment();
    for (const d of rows) {
      frag.append(h('tr', { role: 'row' },
        h('td', { role: 'cell', 'data-label': 'Created' }, h('a', { href: '#/deliveries/' + encodeURIComponent(d.id) }, when(d.created_at))),
        h('td', { role: 'cell', 'data-label': 'Event type' }, h('code', null, d.event_type)),
        withEndpoint ? h('td', { role: 'cell', 'data-label': 'Endpoint' }, h('a', { href: '#/endpoints/' + encodeURIComponent(d.endpoint_id) }, names.get(d.endpoint_id) || d.endpoint_id)) : null,
        h('td', { role: 'cell', 'data-label': 'Status' }, statusOf(d)),
        h('td', { role: 'cell', 'data-label': 'Attempts' }, String(d.attempts)),
        h('td', { role: 'cell', 'data-label': 'Last result' }, d.last_status_code ? 'HTTP ' + d.last_status_code : '', d.last_error ? ' ' + d.last_error : '')));
    }
    clear(body).append(frag);
    note.textContent = (rows.length ? rows.length + ' deliveries' : 'No deliveries match.') +
      (list.length >= MAX ? ' These are the oldest ' + MAX + ' of the range: set a later Since to see newer ones.' : '');
    if (fresh) say('Deliveries updated');
  };
  const refresh = () => document.hidden ? null : load().catch((err) => { note.textContent = err.message; });
  for (const c of [status, type, since, until]) c.addEventListener('change', () => { seen = null; refresh(); });
  const log = h('div', { class: 'log' },
    h('div', { class: 'filters' }, field('Status', status), field('Event type', type), field('Since', since), field('Until', until)),
    note,
    h('table', { class: 'list', role: 'table' }, h('caption', { class: 'sr-only' }, 'Deliveries'),
      h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, cols.map((c) => h('th', { scope: 'col', role: 'columnheader' }, c)))), body));
  refresh();
  every(2000, refresh, log);
  return log;
}

export async function deliveriesView(view) {
  const eps = await api.all('/endpoints').catch(() => []);
  const names = new Map(eps.map((e) => [e.id, e.description || e.url]));
  view.append(h('h1', null, 'Deliveries'),
    h('p', { class: 'muted' }, 'Every delivery of your events, newest first. New ones appear by themselves.'),
    deliveryTable('/deliveries', true, names));
}

// blockedBox explains a delivery that holds its ordering key and, unless the session is read-only, offers to retry it
// (first of its key) or skip it (the next goes).
function blockedBox(d, msg) {
  const act = (action, done) => async () => {
    clear(msg);
    try {
      await api.post('/deliveries/' + encodeURIComponent(d.id) + '/unblock', { action });
      say(done);
      dispatchEvent(new HashChangeEvent('hashchange'));
    } catch (err) { msg.append(alertBox('error', err.message)); }
  };
  return alertBox('error', h('h2', null, 'Blocked'),
    h('p', null, 'The later deliveries of ordering key ', h('code', null, d.ordering_key),
      ' wait on this one: the endpoint keeps a key held behind a failed or dead delivery.'),
    state.readOnly ? null : h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: act('retry', 'Sent again, first of its key') }, 'Retry first'),
      h('button', { type: 'button', onclick: act('skip', 'Skipped: the next delivery of its key goes') }, 'Skip delivery')));
}

export async function deliveryView(view, id) {
  const d = await api.get('/deliveries/' + encodeURIComponent(id));
  const ep = await api.get('/endpoints/' + encodeURIComponent(d.endpoint_id)).catch(() => null);
  view.append(h('div', { class: 'head' }, h('h1', null, 'Delivery of ', h('code', null, d.event_type)), statusOf(d)));
  const props = h('dl', { class: 'props' });
  const row = (k, v) => add(props, [h('dt', null, k), h('dd', null, v)]);
  row('Delivery', h('code', null, d.id));
  row('Message (webhook-id)', h('code', null, d.message_id));
  row('Endpoint', ep ? h('a', { href: '#/endpoints/' + encodeURIComponent(d.endpoint_id) }, ep.description || ep.url)
    : h('code', null, d.endpoint_id + ' (deleted)'));
  row('Created', when(d.created_at));
  if (d.status === 'pending' && d.next_attempt_at) row('Next attempt', when(d.next_attempt_at));
  if (d.ordering_key) row('Ordering key', h('code', null, d.ordering_key));
  if (d.waiting_on) row('Waiting on', h('a', { href: '#/deliveries/' + encodeURIComponent(d.waiting_on) }, d.waiting_on));
  view.append(props);
  const msg = h('div', { 'aria-live': 'polite' });
  if (d.blocked) view.append(blockedBox(d, msg));
  if (!state.readOnly) {
    view.append(h('div', { class: 'actions' }, h('button', { type: 'button', onclick: async () => {
      clear(msg);
      try {
        const n = await api.post('/messages/' + encodeURIComponent(d.message_id) + '/replay', { endpoint_id: d.endpoint_id });
        msg.append(alertBox('ok', 'Sent again as a new delivery: ', h('a', { href: '#/deliveries/' + encodeURIComponent(n.id) }, n.id)));
        say('Retry queued');
      } catch (err) { msg.append(alertBox('error', err.message)); }
    } }, 'Retry')));
  }
  view.append(msg, h('h2', null, 'Attempts'));
  if (!d.attempt_log.length) view.append(h('p', { class: 'muted' }, 'No attempt yet.'));
  view.append(h('ol', { class: 'attempts' }, d.attempt_log.map((a) => h('li', { class: 'attempt' },
    h('p', null, h('strong', null, 'Attempt ' + a.attempt), ' at ' + when(a.at) + ' — ', statusBadge(a.outcome),
      a.status_code ? ' HTTP ' + a.status_code : '', ' in ' + a.latency_ms + ' ms'),
    a.error ? h('p', null, 'Error: ', h('code', null, a.error)) : null,
    a.request ? h('details', null, h('summary', null, 'Request headers'),
      h('pre', { class: 'headers' }, Object.entries(a.request).map(([k, v]) => k + ': ' + v).join('\n'))) : null,
    a.response ? [h('p', { class: 'muted' }, 'Response body (first KiB):'), h('pre', { class: 'body' }, a.response)] : null))));
  if (d.status === 'pending') every(2000, async () => {
    const n = await api.get('/deliveries/' + encodeURIComponent(id)).catch(() => null);
    if (n && (n.status !== d.status || n.attempts !== d.attempts)) dispatchEvent(new HashChangeEvent('hashchange'));
  }, view);
}
