// Interop driver for verifier/interop_test.go: checks webhookd's signatures with code webhookd did not write.
//
//   node interop.mjs <operation> < cases.json
//
// Standard input is a JSON array of cases; standard output is a JSON array of results, one per case, in order.
// Bodies travel as base64 ("body"), so every byte arrives as sent.
//
// Operations:
//   verify-v1   {secret, headers, body}      -> {ok, error?}   npm standardwebhooks' Webhook.verify
//   sign-v1     {secret, id, timestamp, body} -> {signature}    npm standardwebhooks' Webhook.sign
//   verify-v1a  {public, id, timestamp, signature, body}
//                                             -> {jwk, spki}    node:crypto verify(null, ...) of every v1a entry,
//                                                               with the whpk_ key imported as a JWK and as SPKI DER
//   hmac        {key, keyEncoding, body}      -> {hex}          node:crypto HMAC-SHA256 of the body alone (openmdm:
//                                                               keyEncoding "utf8"; mender: "hex")

import { createHmac, createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const body = (c) => Buffer.from(c.body, "base64");

// The raw 32-byte ed25519 public key from whpk_, in the two forms node:crypto imports.
function publicKeys(whpk) {
  const raw = Buffer.from(whpk.replace(/^whpk_/, ""), "base64");
  if (raw.length !== 32) throw new Error(`public key is ${raw.length} bytes`);
  const jwk = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
  // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING { key } }
  const der = Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), raw]);
  const spki = createPublicKey({ key: der, format: "der", type: "spki" });
  return { jwk, spki };
}

const operations = {
  "verify-v1": (c) => {
    try {
      // standardwebhooks signs payload.toString(): the body as UTF-8 text.
      new Webhook(c.secret).verify(body(c).toString("utf8"), c.headers, { jsonParse: false });
      return { ok: true };
    } catch (e) {
      return { ok: false, error: String(e.message) };
    }
  },
  "sign-v1": (c) => ({
    signature: new Webhook(c.secret).sign(c.id, new Date(c.timestamp * 1000), body(c).toString("utf8")),
  }),
  "verify-v1a": (c) => {
    const keys = publicKeys(c.public);
    const content = Buffer.concat([Buffer.from(`${c.id}.${c.timestamp}.`), body(c)]);
    const result = { jwk: false, spki: false };
    for (const entry of c.signature.split(" ")) {
      const [version, sig] = entry.split(",");
      if (version !== "v1a") continue;
      const raw = Buffer.from(sig, "base64");
      result.jwk ||= verify(null, content, keys.jwk, raw);
      result.spki ||= verify(null, content, keys.spki, raw);
    }
    return result;
  },
  hmac: (c) => ({
    hex: createHmac("sha256", Buffer.from(c.key, c.keyEncoding)).update(body(c)).digest("hex"),
  }),
};

const op = operations[process.argv[2]];
if (!op) {
  console.error(`usage: node interop.mjs ${Object.keys(operations).join("|")} < cases.json`);
  process.exit(2);
}
const cases = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map(op)));
