// Building the page. Every value from a tenant or a receiver goes into the document as text (Node.append of a
// string, or textContent): nothing here parses HTML.

// h creates an element. props: "class", "on<event>" listeners, and attributes (true: present, false/null: absent).
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value' || k === 'checked') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, kids);
  return el;
}

// add appends children: nodes as they are, anything else as text.
export function add(el, kids) {
  for (const k of [kids].flat(Infinity)) {
    if (k == null || k === false) continue;
    el.append(k instanceof Node ? k : String(k));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// say announces text to screen readers.
export function say(text) {
  const live = document.getElementById('live');
  live.textContent = '';
  setTimeout(() => { live.textContent = text; }, 50);
}

export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString();
}

// field wraps a control with its label (and an optional hint, tied with aria-describedby).
let seq = 0;
export function field(label, control, hint) {
  const id = control.id || (control.id = 'f' + (++seq));
  const kids = [h('label', { for: id }, label), control];
  if (hint) {
    const hid = id + '-hint';
    control.setAttribute('aria-describedby', hid);
    kids.push(h('p', { class: 'hint', id: hid }, hint));
  }
  return h('div', { class: 'field' }, kids);
}

// copy puts text on the clipboard; where the browser refuses, it selects the text for the user to copy.
export async function copy(text, fallbackEl) {
  try {
    await navigator.clipboard.writeText(text);
    say('Copied');
    return true;
  } catch {
    if (fallbackEl) {
      const r = document.createRange();
      r.selectNodeContents(fallbackEl);
      const s = getSelection();
      s.removeAllRanges();
      s.addRange(r);
    }
    say('Select and copy the text');
    return false;
  }
}

export function badge(text, kind) {
  return h('span', { class: 'badge ' + (kind || '') }, text);
}

export function alertBox(kind, ...kids) {
  return h('div', { class: 'alert ' + kind, role: kind === 'error' ? 'alert' : 'status' }, kids);
}
