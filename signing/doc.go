// Package signing is webhookd's signing core: keys, Standard Webhooks signatures and message ids, the primitives the
// header profiles (package profiles) are built from. It is pure: no I/O, no clock (callers pass the time), safe for
// concurrent use.
//
// # Keys
//
// [ParseKey] reads the Standard Webhooks serialisations: "whsec_" + base64 of a 24-to-64-byte HMAC secret, and
// "whsk_" + base64 of an ed25519 private key (the 64-byte seed+public form, which [GenerateKeyPair] emits, or the
// 32-byte seed; with 64 bytes the halves must agree). [ParsePublicKey] reads "whpk_" public keys, which is all a
// receiver of ed25519 signatures holds. Every refusal wraps one sentinel ([ErrKeyEmpty], [ErrKeyPrefix],
// [ErrKeyEncoding], [ErrKeyTooShort], [ErrKeyTooLong], [ErrKeySize], [ErrKeyMismatch]) and never echoes the key.
// [NewHMACKey] keys HMAC with raw bytes, for profiles whose secrets take other forms.
//
// # Signing
//
// [Sign] returns the webhook-signature header value for "<id>.<timestamp>.<body>": "v1,<base64>" per HMAC key and
// "v1a,<base64>" per ed25519 key, space-separated, in the order given. During rotation pass the new key and the old
// one; receivers holding either accept the message. [AppendHeader] and [Key.AppendSignature] append to a caller's
// buffer instead, and [Key.HMACSum] is the body-only HMAC some profiles sign with.
//
//	key, _ := signing.ParseKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
//	header, _ := signing.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, key)
//
// # Messages
//
// A [MessageID] is a UUIDv7-shaped 128-bit id whose text form ("msg_" + 26 Crockford base32 digits) sorts in time
// order and never contains '.'. A [Message] is one event, fixed at ingest, in the form the profiles render.
//
// # Caveats
//
//   - Key.AppendSignature panics on the zero Key; Sign refuses it with [ErrKeyEmpty].
//   - Key parsing decodes standard base64 as encoding/base64 does, which skips '\r' and '\n': a secret pasted
//     with a line break is accepted as the same key.
//   - ed25519 signing copies id, timestamp and body into one pooled buffer (ed25519 needs the message in one piece).
//     Buffers over 64 KiB are not pooled, so one large body does not pin its memory.
package signing
