// Endpoints: the list, the create and edit form (with the handshake's result), and one endpoint's page: its keys,
// rotation, verify snippet, test event, deliveries and recovery.
import * as api from './api.js';
import { h, add, clear, field, when, say, copy, badge, alertBox } from './dom.js';
import { state, every } from './state.js';
import { snippet } from './snippets.js';
import { deliveryTable, localTime } from './deliveries.js';

const PROFILES = ['standard', 'openmdm', 'mender'];

function statusOf(e) {
  if (!e.disabled) return badge('enabled', 'ok');
  const why = { manual: 'disabled by hand', gone: 'disabled: the receiver answered 410 Gone', failing: 'disabled: failing for too long' };
  return badge(why[e.disabled_reason] || 'disabled' + (e.disabled_reason ? ': ' + e.disabled_reason : ''), 'off');
}

// stats sums a tenant's recent deliveries per endpoint: success rate and the last delivery.
function stats(deliveries) {
  const m = new Map();
  for (const d of deliveries) {
    const s = m.get(d.endpoint_id) || { done: 0, ok: 0, last: null };
    if (d.status === 'succeeded' || d.status === 'failed' || d.status === 'dead') {
      s.done++;
      if (d.status === 'succeeded') s.ok++;
    }
    if (!s.last || d.created_at > s.last.created_at) s.last = d;
    m.set(d.endpoint_id, s);
  }
  return m;
}

export async function endpointsView(view) {
  const head = h('div', { class: 'head' }, h('h1', null, 'Endpoints'));
  if (!state.readOnly) head.append(h('a', { class: 'button primary', href: '#/endpoints/new' }, 'Add endpoint'));
  const q = h('input', { type: 'search', placeholder: 'URL or description' });
  const st = h('select', null, h('option', { value: '' }, 'All'), h('option', { value: 'enabled' }, 'Enabled'),
    h('option', { value: 'disabled' }, 'Disabled'));
  const pr = h('select', null, h('option', { value: '' }, 'All'), PROFILES.map((p) => h('option', { value: p }, p)));
  const count = h('p', { class: 'muted', role: 'status' });
  const body = h('tbody', { role: 'rowgroup' });
  const table = h('table', { class: 'list endpoints', role: 'table' },
    h('caption', { class: 'sr-only' }, 'Endpoints'),
    h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ['Endpoint', 'Status', 'Profile', 'Events', 'Success (24 h)', 'Last delivery']
      .map((c) => h('th', { scope: 'col', role: 'columnheader' }, c)))),
    body);
  view.append(head,
    h('div', { class: 'filters', role: 'search' }, field('Search', q), field('Status', st), field('Profile', pr)),
    count, table);

  // Success rate and last delivery come from the tenant's deliveries of the last 24 hours (at most 1,000 read).
  const day = new Date(Date.now() - 24 * 3600e3).toISOString();
  const [eps, recent] = await Promise.all([api.all('/endpoints'),
    api.all('/deliveries?since=' + encodeURIComponent(day), 1000).catch(() => [])]);
  const byEp = stats(recent);
  const render = () => {
    const text = q.value.trim().toLowerCase();
    const rows = document.createDocumentFragment();
    let n = 0;
    for (const e of eps) {
      if (st.value === 'enabled' && e.disabled) continue;
      if (st.value === 'disabled' && !e.disabled) continue;
      if (pr.value && e.profile !== pr.value) continue;
      if (text && !(e.url.toLowerCase().includes(text) || (e.description || '').toLowerCase().includes(text))) continue;
      n++;
      const s = byEp.get(e.id);
      rows.append(h('tr', { role: 'row' },
        h('td', { role: 'cell', 'data-label': 'Endpoint' },
          h('a', { href: '#/endpoints/' + encodeURIComponent(e.id), class: 'ep-link' }, e.description || e.url),
          e.description ? h('div', { class: 'url' }, e.url) : null),
        h('td', { role: 'cell', 'data-label': 'Status' }, statusOf(e)),
        h('td', { role: 'cell', 'data-label': 'Profile' }, e.profile + ' · ' + e.signing),
        h('td', { role: 'cell', 'data-label': 'Events' }, e.events.join(', ')),
        h('td', { role: 'cell', 'data-label': 'Success (24 h)' }, s && s.done ? Math.round((100 * s.ok) / s.done) + ' % of ' + s.done : '—'),
        h('td', { role: 'cell', 'data-label': 'Last delivery' }, s && s.last ? [when(s.last.created_at), ' ', s.last.status] : '—')));
    }
    clear(body).append(rows);
    count.textContent = eps.length ? n + ' of ' + eps.length + ' endpoints' : 'No endpoints yet.';
    // A mark once the next frame has been painted, for the render benchmark.
    requestAnimationFrame(() => setTimeout(() => performance.mark('endpoints-shown')));
  };
  for (const c of [q, st, pr]) c.addEventListener('input', render);
  render();
}

// parseHeaders reads "Name: value" lines.
function parseHeaders(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const i = line.indexOf(':');
    if (i < 1) throw new Error('Header lines are "Name: value": ' + line);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

// handshakeHelp explains a failed OPTIONS handshake: what was seen and what to fix.
function handshakeHelp(err) {
  const d = err.details || {};
  const seen = h('dl', { class: 'props' });
  if (d.status) add(seen, [h('dt', null, 'Status'), h('dd', null, String(d.status))]);
  if (d.status) add(seen, [h('dt', null, 'Allow header'), h('dd', null, d.allow || '(none)')]);
  if (d.error) add(seen, [h('dt', null, 'Error'), h('dd', null, d.error)]);
  let fix;
  if (d.error && /timeout|deadline/i.test(d.error)) {
    fix = 'The receiver did not answer in time. Check that it is running, reachable from webhookd, and answers OPTIONS at once.';
  } else if (d.error) {
    fix = 'webhookd could not reach the receiver. Check the host name, the port and that the server is running.';
  } else if (d.status && (d.status < 200 || d.status > 299)) {
    fix = 'Answer OPTIONS on this URL with a 2xx status (204 is usual) and an Allow header that includes POST.';
  } else {
    fix = 'Add POST to the Allow header of the OPTIONS answer, e.g. "Allow: POST, OPTIONS".';
  }
  return alertBox('error', h('h2', null, 'The URL did not pass the handshake'),
    h('p', null, 'Before it accepts a URL, webhookd sends it an OPTIONS request. This is what it saw:'), seen,
    h('p', null, h('strong', null, 'To fix: '), fix));
}

function errorBox(err) {
  if (err.code === 'handshake_failed') return handshakeHelp(err);
  return alertBox('error', err.message);
}

export async function endpointFormView(view, id) {
  const [e, types] = await Promise.all([id ? api.get('/endpoints/' + encodeURIComponent(id)) : null,
    api.all('/v1/event-types').catch(() => [])]);
  view.append(h('h1', null, e ? 'Edit endpoint' : 'Add an endpoint'));
  if (state.readOnly) {
    view.append(alertBox('info', 'This session is read-only.'));
    return;
  }
  const url = h('input', { type: 'url', required: true, value: e ? e.url : '', autocomplete: 'off', placeholder: 'https://example.com/webhooks' });
  const desc = h('input', { type: 'text', value: e ? e.description : '', maxlength: 500 });
  const picked = new Set(e ? e.events : []);
  const boxes = types.map((t) => {
    const cb = h('input', { type: 'checkbox', value: t.name, checked: picked.has(t.name) });
    picked.delete(t.name);
    return h('li', null, h('label', null, cb, ' ', h('code', null, t.name), t.description ? [' — ', t.description] : null));
  });
  const other = h('input', { type: 'text', value: [...picked].join(', '), placeholder: '* or device.*' });
  const profile = h('select', null, PROFILES.map((p) => h('option', { value: p }, p)));
  profile.value = e ? e.profile : 'standard';
  const signing = h('select', null, h('option', { value: 'hmac' }, 'hmac (shared secret)'),
    h('option', { value: 'ed25519' }, 'ed25519 (public key)'));
  signing.value = e ? e.signing : 'hmac';
  const headers = h('textarea', { rows: 3 });
  headers.value = e ? Object.entries(e.headers || {}).map(([k, v]) => k + ': ' + v).join('\n') : '';
  const rate = h('input', { type: 'number', min: 0, step: 'any', value: e ? e.rate_limit : 0 });
  const timeout = h('input', { type: 'text', value: e ? e.timeout : '1s', pattern: '[0-9.]+(ms|s|m)' });
  const out = h('div', { class: 'result' });
  const submit = h('button', { type: 'submit', class: 'primary' }, e ? 'Save' : 'Create endpoint');
  const form = h('form', { class: 'form', novalidate: true },
    field('URL', url, 'webhookd checks it first with an OPTIONS request.'),
    field('Description', desc),
    h('fieldset', null, h('legend', null, 'Events'),
      boxes.length ? h('ul', { class: 'checks' }, boxes) : h('p', { class: 'muted' }, 'The catalogue is empty.'),
      field('Other filters', other, 'Comma-separated: an event type, a prefix such as device.*, or * for all. None picked means all.')),
    h('div', { class: 'row' }, field('Profile', profile), field('Signing', signing)),
    field('Custom headers', headers, 'One "Name: value" per line.'),
    h('div', { class: 'row' }, field('Rate limit (per second, 0 for none)', rate), field('Timeout', timeout)),
    out,
    h('div', { class: 'actions' }, submit,
      h('a', { class: 'button', href: e ? '#/endpoints/' + encodeURIComponent(e.id) : '#/endpoints' }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(out);
    let body;
    try {
      const events = boxes.map((li) => li.querySelector('input')).filter((c) => c.checked).map((c) => c.value)
        .concat(other.value.split(',').map((s) => s.trim()).filter(Boolean));
      body = {
        url: url.value.trim(), description: desc.value, events: events.length ? events : ['*'],
        profile: profile.value, signing: signing.value, headers: parseHeaders(headers.value),
        rate_limit: Number(rate.value) || 0, timeout: timeout.value.trim() || '1s',
      };
      if (e && body.profile === e.profile && body.signing === e.signing) {
        delete body.profile;
        delete body.signing;
      }
    } catch (err) {
      out.append(alertBox('error', err.message));
      return;
    }
    submit.disabled = true;
    out.append(h('p', { class: 'muted' }, 'Checking the URL…'));
    try {
      const saved = e ? await api.call('PATCH', '/endpoints/' + encodeURIComponent(e.id), body) : await api.post('/endpoints', body);
      say(e ? 'Saved' : 'Endpoint created');
      location.hash = '#/endpoints/' + encodeURIComponent(saved.id);
    } catch (err) {
      clear(out).append(errorBox(err));
      say('Not saved: ' + err.message);
      out.querySelector('[role=alert]')?.focus?.();
    } finally {
      submit.disabled = false;
    }
  });
  view.append(form);
}

export async function endpointView(view, id) {
  const path = '/endpoints/' + encodeURIComponent(id);
  const e = await api.get(path);
  const ro = state.readOnly;
  const msg = h('div', { class: 'result', 'aria-live': 'polite' });
  const act = (label, fn, cls) => h('button', { type: 'button', class: cls || '', onclick: async (ev) => {
    ev.target.disabled = true;
    clear(msg);
    try { await fn(); } catch (err) { msg.append(errorBox(err)); } finally { ev.target.disabled = false; }
  } }, label);

  view.append(h('div', { class: 'head' }, h('h1', null, e.description || e.url), statusOf(e)));
  if (!ro) {
    const confirmBox = h('div', { class: 'confirm', hidden: true },
      h('p', null, 'Delete this endpoint? Its deliveries stop at once. This cannot be undone.'),
      act('Delete endpoint', async () => {
        await api.call('DELETE', path);
        say('Endpoint deleted');
        location.hash = '#/endpoints';
      }, 'danger'),
      h('button', { type: 'button', onclick: () => { confirmBox.hidden = true; } }, 'Keep it'));
    view.append(h('div', { class: 'actions' },
      h('a', { class: 'button', href: '#' + path + '/edit' }, 'Edit'),
      e.disabled ? act('Enable', async () => { await api.post(path + '/enable'); say('Enabled'); reload(); })
        : act('Disable', async () => { await api.post(path + '/disable'); say('Disabled'); reload(); }),
      h('button', { type: 'button', class: 'danger', onclick: () => { confirmBox.hidden = false; confirmBox.querySelector('button').focus(); } }, 'Delete…')),
    confirmBox);
  }
  view.append(msg);
  const props = h('dl', { class: 'props' });
  const row = (k, v) => add(props, [h('dt', null, k), h('dd', null, v)]);
  row('URL', h('code', { class: 'url' }, e.url));
  row('ID', h('code', null, e.id));
  row('Events', e.events.join(', '));
  row('Profile', e.profile + ' · ' + e.signing);
  row('Timeout', e.timeout);
  row('Rate limit', e.rate_limit ? e.rate_limit + ' per second' : 'none');
  row('Retry schedule', retrySchedule(e));
  if (e.trace_propagate !== undefined) row('Trace propagation', e.trace_propagate ? 'on (traceparent sent)' : 'off');
  const hs = Object.entries(e.headers || {});
  row('Custom headers', hs.length ? h('ul', { class: 'plain' }, hs.map(([k, v]) => h('li', null, h('code', null, k + ': ' + v)))) : 'none');
  const md = Object.entries(e.metadata || {});
  if (md.length) row('Metadata', h('ul', { class: 'plain' }, md.map(([k, v]) => h('li', null, k + ' = ' + v))));
  if (e.failing_since) row('Failing since', when(e.failing_since));
  if (e.handshake_failures) row('URL re-check', e.handshake_failures + ' failed in a row' + (e.handshake_error ? ': ' + e.handshake_error : ''));
  if (e.handshake_checked_at) row('Last re-checked', when(e.handshake_checked_at));
  row('Created', when(e.created_at));
  view.append(h('section', { 'aria-labelledby': 'sec-props' }, h('h2', { id: 'sec-props' }, 'Details'), props));

  view.append(secretSection(e, path, ro));
  if (!ro) view.append(testSection(path));
  view.append(deliveriesSection(path, ro));
}

// retrySchedule describes the endpoint's own retry schedule, or says it follows the gateway's.
function retrySchedule(e) {
  if (e.retries === undefined && !e.retry_initial && !e.retry_cap) return "the gateway's";
  const parts = [];
  if (e.retries !== undefined) parts.push(e.retries === 1 ? '1 retry' : e.retries + ' retries');
  if (e.retry_initial) parts.push('first wait ' + e.retry_initial);
  if (e.retry_cap) parts.push('waits at most ' + e.retry_cap);
  return parts.join(' · ');
}

function reload() {
  dispatchEvent(new HashChangeEvent('hashchange'));
}

// secretSection reveals, copies and rotates the endpoint's keys, and shows how to verify with them.
function secretSection(e, path, ro) {
  const keys = h('div', { class: 'keys' });
  const snip = h('div');
  let revealed = null;
  const showSnippet = (key) => clear(snip).append(snippet(e.profile, e.signing, key));
  const reveal = async () => {
    const s = await api.get(path + '/secret');
    revealed = s.keys;
    clear(keys);
    keys.append(s.keys.length > 1
      ? alertBox('info', 'Rotation in progress: the receiver must trust all ' + s.keys.length + ' keys until the old ones expire.')
      : h('p', null, 'One key signs each request.'));
    keys.append(h('ul', { class: 'plain' }, s.keys.map((k, i) => {
      const value = k.secret || k.public_key;
      const code = h('code', { class: 'secret' }, value);
      return h('li', { class: 'key' },
        h('span', { class: 'muted' }, (i === 0 ? 'Newest key' : 'Older key') + (k.public_key ? ' (public key)' : '') + ': '),
        code, ' ',
        h('button', { type: 'button', class: 'copy', onclick: async (ev) => {
          if (await copy(value, code)) ev.target.textContent = 'Copied';
        } }, 'Copy'),
        h('span', { class: 'muted' }, ' created ' + when(k.created_at) + (k.expires_at ? ', stops signing ' + when(k.expires_at) : '')));
    })));
    showSnippet(s.keys[0].secret || s.keys[0].public_key);
    say('Key revealed');
  };
  const revealBtn = h('button', { type: 'button', onclick: async () => {
    try { await reveal(); revealBtn.textContent = 'Refresh keys'; } catch (err) { clear(keys).append(errorBox(err)); }
  } }, e.signing === 'ed25519' ? 'Show public key' : 'Reveal secret');
  const sec = h('section', { 'aria-labelledby': 'sec-keys' }, h('h2', { id: 'sec-keys' }, 'Signing key'),
    h('p', { class: 'muted' }, 'Your receiver checks each request\'s signature with this key.'), revealBtn, keys);
  if (!ro) {
    const grace = h('input', { type: 'text', value: '24h', pattern: '[0-9.]+(ms|s|m|h)' });
    const rmsg = h('div', { 'aria-live': 'polite' });
    sec.append(h('form', { class: 'inline', onsubmit: async (ev) => {
      ev.preventDefault();
      clear(rmsg);
      try {
        await api.post(path + '/rotate', { grace: grace.value.trim() || '24h' });
        rmsg.append(alertBox('ok', 'Rotated. The old key keeps signing for ' + grace.value + '.'));
        await reveal();
      } catch (err) { rmsg.append(errorBox(err)); }
    } }, field('Grace period for the old key', grace), h('button', { type: 'submit' }, 'Rotate key')), rmsg);
  }
  sec.append(h('h3', null, 'Verify in your receiver'), snip);
  showSnippet(revealed ? revealed[0] : null);
  return sec;
}

// testSection sends a webhookd.test event and follows its delivery until it is done.
function testSection(path) {
  const out = h('div', { class: 'result', 'aria-live': 'polite' });
  const btn = h('button', { type: 'button', onclick: async () => {
    btn.disabled = true;
    clear(out);
    try {
      const r = await api.post(path + '/test', {});
      const line = h('p', null, 'Test event sent (', h('code', null, r.message_id), '): waiting for its delivery…');
      out.append(line);
      for (let i = 0; i < 120 && r.delivery_id; i++) {
        const d = await api.get('/deliveries/' + encodeURIComponent(r.delivery_id));
        if (d.status !== 'pending' || d.attempts > 0) {
          const last = d.attempt_log[d.attempt_log.length - 1] || {};
          const ok = d.status === 'succeeded';
          clear(out).append(alertBox(ok ? 'ok' : 'error',
            ok ? 'Delivered' : 'Not delivered (' + d.status + ')',
            last.status_code ? ': HTTP ' + last.status_code : '', last.latency_ms != null ? ' in ' + last.latency_ms + ' ms. ' : '. ',
            last.error ? last.error + ' ' : '',
            h('a', { href: '#/deliveries/' + encodeURIComponent(d.id) }, 'See the delivery')));
          say(ok ? 'Test event delivered' : 'Test event not delivered');
          return;
        }
        await new Promise((res) => setTimeout(res, 250));
      }
    } catch (err) { clear(out).append(errorBox(err)); } finally { btn.disabled = false; }
  } }, 'Send test event');
  return h('section', { 'aria-labelledby': 'sec-test' }, h('h2', { id: 'sec-test' }, 'Test'),
    h('p', null, 'Sends a ', h('code', null, 'webhookd.test'), ' event to this endpoint alone.'), btn, out);
}

function deliveriesSection(path, ro) {
  const sec = h('section', { 'aria-labelledby': 'sec-dlv' }, h('h2', { id: 'sec-dlv' }, 'Deliveries'));
  if (!ro) {
    const since = h('input', { type: 'datetime-local', required: true });
    since.value = localTime(new Date(Date.now() - 24 * 3600e3));
    const rmsg = h('div', { 'aria-live': 'polite' });
    sec.append(h('form', { class: 'inline', onsubmit: async (ev) => {
      ev.preventDefault();
      clear(rmsg);
      try {
        const r = await api.post(path + '/recover', { since: new Date(since.value).toISOString() });
        rmsg.append(alertBox('ok', r.replayed + ' failed message' + (r.replayed === 1 ? '' : 's') + ' sent again.'));
      } catch (err) { rmsg.append(errorBox(err)); }
    } }, field('Recover failed deliveries since', since), h('button', { type: 'submit' }, 'Recover')), rmsg);
  }
  sec.append(deliveryTable(path + '/deliveries', false));
  return sec;
}

