// Package profiles is the registry of header profiles: the receiver families webhookd can deliver to. A [Profile]
// declares everything that differs between families, in one file each (standard.go, openmdm.go, mender.go): its
// name and metric label, the body envelope it renders and the headers it sets, the key forms and algorithms it
// signs with, how a receiver verifies its requests, whether they carry a timestamp, and its outcome policy (which
// answers succeed, are retried, fail for good, or disable the endpoint).
//
// The delivery engine, the receiver-side verifier, the metrics and endpoint validation look profiles up here by
// name ([Lookup], [All]) instead of switching on names, so adding a profile is one file that calls [Register].
// The signing primitives (keys, HMAC and ed25519 signatures, the Standard Webhooks signature header, message ids)
// stay in package signing; this package builds the profiles from them.
//
// The built-in profiles:
//
//   - [Standard]: Standard Webhooks 1.0; webhook-id, webhook-timestamp (the attempt's time), webhook-signature.
//   - [OpenMDM]: @openmdm/core's X-OpenMDM-* headers and "sha256=<hex>" HMAC of the body alone.
//   - [Mender]: Mender's X-Men-Signature (hex HMAC of the body, keyed with the hex-decoded secret), also sent under
//     the older X-Men-Signature-Payload name.
//
// Rendering the same Message twice gives the same bytes, so every retry signs and sends what the first attempt did.
//
// # Caveats
//
//   - The openmdm and mender schemes sign the body only: nothing binds the delivery to a time, so a captured request
//     can be replayed verbatim for as long as the key lives. Receivers must deduplicate by message id; only the
//     standard profile's signed timestamp bounds replays.
//   - OpenMDM and Mender carry one signature, so during rotation they are signed with the first key only: rotate
//     those receivers by trusting the new key before the sender switches to it.
//   - Message.Data is copied into the body verbatim; the caller must pass valid JSON (nil renders as null).
//   - SetHeaders panics on the zero Key.
//   - The registry is process-wide. Register a profile once, at start-up (an init function); names cannot be
//     registered twice or removed.
package profiles
