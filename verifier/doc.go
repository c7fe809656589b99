// Package verifier is what a receiver of webhookd's requests imports: one Verifier that checks a request's
// signature against a trust list, and a net/http middleware that also bounds the body, drops duplicates and answers
// the sender's OPTIONS handshake. It depends on webhookd/signing, webhookd/profiles (where each profile's
// verification lives) and the standard library only.
//
// # Tour
//
//	v, err := verifier.New(verifier.Config{
//		Profile: "standard",                          // or "openmdm", "mender"
//		Keys:    []string{os.Getenv("WEBHOOK_SECRET")}, // whsec_… and/or whpk_…
//	})
//	if err != nil { … }
//	http.Handle("POST /webhooks", v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		res, _ := verifier.ResultFrom(r.Context()) // which key matched, message id, timestamp
//		body, _ := io.ReadAll(r.Body)               // the raw body, byte for byte
//		…
//	})))
//
// [Verifier.Verify] can be called directly with the headers and raw body. It tries every signature the request
// carries against every trusted key, in constant time per comparison, ignores signature versions it does not know,
// and on failure returns an error wrapping one of [ErrMissingHeader], [ErrMalformedHeader], [ErrTimestampTooOld],
// [ErrTimestampTooNew] or [ErrNoMatchingSignature].
//
// The built-in profiles (package profiles registers them; a profile registered there is verified the same way):
//
//   - standard (Standard Webhooks 1.0): webhook-id, webhook-timestamp and webhook-signature; "v1" HMAC-SHA256 under
//     whsec_ secrets and "v1a" ed25519 under whpk_ public keys, over "<id>.<timestamp>.<body>". The timestamp must be
//     within Config.Tolerance (5 minutes by default) of now, either way.
//   - openmdm: X-OpenMDM-Signature "sha256=<hex>" HMAC of the body alone, keyed with the secret's UTF-8 bytes. The
//     id is X-OpenMDM-Delivery. Those headers are not signed, so the verifier requires them to agree with the
//     signed body's "id" and "timestamp". The timestamp check is opt-in ([TimestampEnforce]).
//   - mender: X-Men-Signature (or the older X-Men-Signature-Payload) hex HMAC of the body alone, keyed with the
//     hex-decoded secret; the id is the body's "id" field. There is no timestamp to check.
//
// # Rotation
//
// Put the old and the new key in Config.Keys. Standard Webhooks senders sign with both during a rotation, and
// either verifies; [Result].KeyIndex shows which one matched, so you can tell when the old key is no longer used
// and remove it. A removed key no longer verifies anything.
//
// # Deduplication
//
// Senders retry with the same message id, and a request can be captured and replayed. Middleware records each
// verified id in a [DedupStore] for Config.DedupTTL (a [MemoryDedup] by default; verifier/redisdedup for several
// replicas) and answers a repeat with 200 without calling the handler. If the handler fails, the id is forgotten
// again (stores that implement [Forgetter]), so the retry is processed.
//
// # Caveats
//
//   - The openmdm and mender schemes sign the body alone: a captured request can be replayed at any later time.
//     Only deduplication stops that, for as long as the id is remembered; keep DedupTTL long for those profiles and
//     make handlers idempotent.
//   - OpenMDM's timestamp is the event's time, the same on every retry. With TimestampEnforce, a retry that
//     arrives later than Tolerance after the event is refused; set Tolerance above the sender's retry schedule.
//   - MemoryDedup drops its oldest ids beyond MaxEntries, and each process has its own: behind a load balancer use
//     a shared store.
//   - A duplicate that arrives while the first copy is still in the handler is answered 200 at once. If the first
//     copy then fails, the id is forgotten, but the sender has already been told the message was delivered.
//   - If the DedupStore fails, Middleware answers 503 and the sender retries later; it does not guess.
//   - Verify reads headers by their canonical names (http.Header.Get), as net/http provides them. A header map
//     built by hand must use http.Header.Set.
//   - A verified mender (or openmdm) body that is not a JSON object with an "id" has no message id: Middleware then
//     cannot deduplicate it and hands it to the handler.
package verifier
