// How a receiver verifies this endpoint's requests, in Go (webhookd's verifier package), Node and Python, with the
// endpoint's key filled in once it is revealed.
import { h, copy } from './dom.js';

function goCode(profile, key) {
  return `import "github.com/webhookd/webhookd/verifier"

v, err := verifier.New(verifier.Config{
	Profile: "${profile}",
	Keys:    []string{"${key}"}, // during a rotation, list every key shown above
})
if err != nil {
	log.Fatal(err)
}
// Verifies, drops duplicates and answers webhookd's OPTIONS handshake.
http.Handle("/webhooks", v.Middleware(handler))`;
}

function nodeCode(profile, signing, key) {
  if (profile === 'standard' && signing === 'hmac') {
    return `// npm install standardwebhooks
import { Webhook } from "standardwebhooks";

const wh = new Webhook("${key}");
// rawBody: the request body exactly as received (a string or Buffer)
const payload = wh.verify(rawBody, {
  "webhook-id": req.headers["webhook-id"],
  "webhook-timestamp": req.headers["webhook-timestamp"],
  "webhook-signature": req.headers["webhook-signature"],
});`;
  }
  if (profile === 'standard') {
    return `// ed25519 ("v1a") signatures: use a Standard Webhooks library that supports v1a,
// or webhookd's Go verifier (see Go). The public key is "${key}".`;
  }
  const header = profile === 'openmdm' ? 'x-openmdm-signature' : 'x-men-signature';
  const keyExpr = profile === 'openmdm' ? `Buffer.from("${key}", "utf8")` : `Buffer.from("${key}", "hex")`;
  const expect = profile === 'openmdm' ? '"sha256=" + mac' : 'mac';
  return `import { createHmac, timingSafeEqual } from "node:crypto";

// rawBody: the request body exactly as received (a Buffer)
const mac = createHmac("sha256", ${keyExpr}).update(rawBody).digest("hex");
const got = Buffer.from(req.headers["${header}"] || "");
const want = Buffer.from(${expect});
if (got.length !== want.length || !timingSafeEqual(got, want)) {
  throw new Error("bad signature");
}`;
}

function pythonCode(profile, signing, key) {
  if (profile === 'standard' && signing === 'hmac') {
    return `# pip install standardwebhooks
from standardwebhooks.webhooks import Webhook

wh = Webhook("${key}")
# body: the request body exactly as received (bytes); headers: the request's headers
payload = wh.verify(body, headers)`;
  }
  if (profile === 'standard') {
    return `# ed25519 ("v1a") signatures: use a Standard Webhooks library that supports v1a,
# or webhookd's Go verifier (see Go). The public key is "${key}".`;
  }
  const header = profile === 'openmdm' ? 'X-OpenMDM-Signature' : 'X-Men-Signature';
  const keyExpr = profile === 'openmdm' ? `"${key}".encode()` : `bytes.fromhex("${key}")`;
  const expect = profile === 'openmdm' ? '"sha256=" + mac' : 'mac';
  return `import hashlib, hmac

# body: the request body exactly as received (bytes)
mac = hmac.new(${keyExpr}, body, hashlib.sha256).hexdigest()
if not hmac.compare_digest(headers.get("${header}", ""), ${expect}):
    raise ValueError("bad signature")`;
}

// snippet shows the three languages as tabs; key is null until revealed.
export function snippet(profile, signing, key) {
  const k = key || 'REVEAL_THE_KEY_ABOVE';
  const langs = [['Go', goCode(profile, k)], ['Node', nodeCode(profile, signing, k)], ['Python', pythonCode(profile, signing, k)]];
  const pre = h('pre', { class: 'code', tabindex: '0', 'aria-label': 'Verification code' });
  const tabs = langs.map(([name, code], i) => h('button', {
    type: 'button', class: 'tab', 'aria-pressed': i === 0 ? 'true' : 'false',
    onclick: (ev) => {
      for (const t of tabs) t.setAttribute('aria-pressed', t === ev.target ? 'true' : 'false');
      pre.textContent = code;
    },
  }, name));
  pre.textContent = langs[0][1];
  return h('div', { class: 'snippet' },
    h('div', { class: 'tabs', role: 'group', 'aria-label': 'Language' }, tabs,
      h('button', { type: 'button', class: 'copy', onclick: () => copy(pre.textContent, pre) }, 'Copy code')),
    pre);
}
