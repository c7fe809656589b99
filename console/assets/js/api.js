// The /v1 API of the origin that served the console, called with the session's token.

export class APIError extends Error {
  constructor(status, body) {
    super((body && body.message) || 'HTTP ' + status);
    this.status = status;
    this.code = (body && body.code) || '';
    this.field = (body && body.field) || '';
    this.details = (body && body.details) || null;
  }
}

const root = location.pathname.replace(/console\/.*$/, '');
let session = null;
let onSessionEnd = () => {};

export function start(s, ended) {
  session = s;
  onSessionEnd = ended;
}

export function tenant() {
  return session.tenant;
}

// call sends one request; path is under /v1/tenants/{tenant} unless it starts with "/v1/".
export async function call(method, path, body) {
  const url = root + (path.startsWith('/v1/') ? path.slice(1) : 'v1/tenants/' + encodeURIComponent(session.tenant) + path);
  const init = {
    method,
    headers: { Authorization: 'Bearer ' + session.token },
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) {
    const err = new APIError(r.status, data);
    if (r.status === 401) onSessionEnd(err);
    throw err;
  }
  return data;
}

export const get = (p) => call('GET', p);
export const post = (p, b) => call('POST', p, b);

// all follows the cursor of a list until it ends or max items are read.
export async function all(path, max = 5000) {
  const out = [];
  let after = '';
  const sep = path.includes('?') ? '&' : '?';
  for (;;) {
    const page = await get(path + sep + 'limit=200' + (after ? '&after=' + encodeURIComponent(after) : ''));
    out.push(...page.data);
    if (!page.next || out.length >= max) return out;
    after = page.next;
  }
}
