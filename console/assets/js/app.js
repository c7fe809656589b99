// The console's entry point: the session from the URL fragment, the sections, the router.
import * as api from './api.js';
import { h, clear } from './dom.js';
import { endpointsView, endpointFormView, endpointView } from './endpoints.js';
import { deliveriesView, deliveryView } from './deliveries.js';
import { catalogueView } from './catalogue.js';
import { state, stopTimers as stop } from './state.js';

const main = document.getElementById('main');
const KEY = 'webhookd-console-session';

// readSession takes the session from "#tenant=…&token=…[&ro=1]" and moves it out of the address bar (into this
// tab's sessionStorage, so a reload keeps it); on later loads it comes from there.
function readSession() {
  const f = new URLSearchParams(location.hash.slice(1));
  if (f.get('token')) {
    const s = { tenant: f.get('tenant') || '', token: f.get('token'), readOnly: f.get('ro') === '1' };
    try { sessionStorage.setItem(KEY, JSON.stringify(s)); } catch { /* storage refused: memory only */ }
    history.replaceState(null, '', location.pathname + '#/endpoints');
    return s;
  }
  try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { return null; }
}

// ended replaces the whole page with why the session no longer works, and offers nothing else.
let over = false;
function ended(err) {
  if (over) return;
  over = true;
  stop();
  try { sessionStorage.removeItem(KEY); } catch { /* nothing to remove */ }
  clear(document.getElementById('nav'));
  clear(document.getElementById('who'));
  const why = {
    session_expired: 'This session has expired.',
    session_revoked: 'This session was revoked.',
  }[err && err.code] || 'This link is not valid.';
  clear(main).append(
    h('section', { class: 'ended', 'aria-labelledby': 'ended-h' },
      h('h1', { id: 'ended-h', tabindex: '-1' }, why),
      h('p', null, 'Open the webhooks console again from the application that sent you here.')));
  main.querySelector('h1').focus();
}

const sections = [
  ['#/endpoints', 'Endpoints'],
  ['#/deliveries', 'Deliveries'],
  ['#/event-types', 'Event types'],
];

function nav(active) {
  const el = clear(document.getElementById('nav'));
  el.append(h('ul', null, sections.map(([href, label]) =>
    h('li', null, h('a', { href, 'aria-current': href.startsWith(active) ? 'page' : null }, label)))));
}

async function route() {
  if (over) return;
  if (location.hash.includes('token=')) {
    location.reload(); // a new session URL pasted into this tab
    return;
  }
  stop();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const [sec, id, sub] = parts;
  nav('#/' + (sec || 'endpoints'));
  const view = h('div', { class: 'view' });
  clear(main).append(view);
  try {
    if (sec === 'deliveries' && id) await deliveryView(view, id);
    else if (sec === 'deliveries') await deliveriesView(view);
    else if (sec === 'event-types') await catalogueView(view);
    else if (sec === 'endpoints' && id === 'new') await endpointFormView(view, null);
    else if (sec === 'endpoints' && id && sub === 'edit') await endpointFormView(view, id);
    else if (sec === 'endpoints' && id) await endpointView(view, id);
    else await endpointsView(view);
  } catch (err) {
    if (over) return;
    view.append(h('div', { class: 'alert error', role: 'alert' }, err.message));
  }
  if (over) return;
  const head = view.querySelector('h1');
  if (head) {
    head.setAttribute('tabindex', '-1');
    head.focus();
  }
}

const session = readSession();
document.getElementById('skip').addEventListener('click', () => main.focus());
if (!session || !session.token || !session.tenant) {
  ended(null);
} else {
  api.start(session, ended);
  state.readOnly = !!session.readOnly;
  const who = document.getElementById('who');
  who.append('Tenant ', h('strong', null, session.tenant));
  if (session.readOnly) who.append(' ', h('span', { class: 'badge' }, 'read-only'));
  addEventListener('hashchange', route);
  route();
}
