// Package signing is webhookd's signing core: keys, Standard Webhooks signatures, message ids and the three header
// profiles. It is pure: no I/O, no clock (callers pass the time), safe for concurrent use.
//
// # Keys
//
// [ParseKey] reads the Standard Webhooks serialisations: "whsec_" + base64 of a 24-to-64-byte HMAC secret, and
// "whsk_" + base64 of an ed25519 private key (the 64-byte seed+public form, which [GenerateKeyPair] emits, or the
// 32-byte seed; with 64 bytes the halves must agree). [ParsePublicKey] reads "whpk_" public keys, which is all a
// receiver of ed25519 signatures holds. Every refusal wraps one sentinel ([ErrKeyEmpty], [ErrKeyPrefix],
// [ErrKeyEncoding], [ErrKeyTooShort], [ErrKeyTooLong], [ErrKeySize], [ErrKeyMismatch]) and never echoes the key.
// Each [Profile] has its own ParseKey for its secret form: whsec_/whsk_ (standard), a UTF-8 string of 16 to 256
// bytes (openmdm), lower-case hex (mender).
//
// # Signing
//
// [Sign] returns the webhook-signature header value for "<id>.<timestamp>.<body>": "v1,<base64>" per HMAC key and
// "v1a,<base64>" per ed25519 key, space-separated, in the order given. During rotation pass the new key and the old
// one; receivers holding either accept the message. [AppendHeader] and [Key.AppendSignature] append to a caller's
// buffer instead, and [Key.HMACSum] is the body-only HMAC the openmdm and mender profiles use.
//
//	key, _ := signing.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
//	header, _ := signing.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, key)
//
// # Messages and profiles
//
// A [MessageID] is a UUIDv7-shaped 128-bit id whose text form ("msg_" + 26 Crockford base32 digits) sorts in time
// order and never contains '.'. A [Message] is one event, fixed at ingest; a [Profile] renders it
// ([Profile.AppendBody]) and sets one attempt's headers ([Profile.SetHeaders]):
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
//   - Profile.SetHeaders and Key.AppendSignature panic on the zero Key; Sign refuses it with [ErrKeyEmpty].
//   - Key parsing decodes standard base64 as encoding/base64 does, which skips '\r' and '\n': a secret pasted
//     with a line break is accepted as the same key.
//   - ed25519 signing copies id, timestamp and body into one pooled buffer (ed25519 needs the message in one piece).
//     Buffers over 64 KiB are not pooled, so one large body does not pin its memory.
package signing
