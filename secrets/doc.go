// Package secrets keeps endpoint signing secrets encrypted at rest under operator keys.
//
// # Tour
//
// A Keyring holds one or more operator keys (AES-256), each with a short id; the first seals, every one opens.
// ParseKeyring reads the form operators configure ("kid:base64,kid2:base64", or a bare base64 key whose id is derived
// from it), GenerateKey makes one.
//
// Endpoints wraps any endpoints.Store (bbolt, Redis, a test double): CreateEndpoint and UpdateEndpoint seal every
// key's Secret before the backend sees it, GetEndpoint and ListEndpoints open it again, so the services, the API and
// the delivery engine work on plaintext and the backend only ever stores
//
//	enc:v1:<key id>:<base64url(12-byte nonce ‖ AES-256-GCM ciphertext ‖ 16-byte tag)>
//
// The associated data binds a sealed secret to its tenant and endpoint id: copied onto another endpoint's record it
// does not open (ErrOpen), and neither does a changed byte. A secret that does not start with "enc:" is plaintext,
// stored before a key was configured; it is read as it is and sealed by the next write of its endpoint, or at once by
// Reseal(SealPlain), which the gateway runs at start when it has a key.
//
// Rotation of operator keys: put the new key first and keep the old one after it, run Reseal(SealAll) (`webhookd
// secrets rotate-key`), then drop the old key. Count reports which key ids the stored secrets use.
//
// # Caveats
//
//   - Only endpoint secrets are sealed. Tenant tokens are stored as SHA-256 hashes and need no key; message bodies,
//     endpoint URLs and custom headers are stored in the clear.
//   - Without a keyring, a secret starting with "enc:" (possible for openmdm's free-form secrets) is refused, since it
//     would read back as a sealed value.
//   - Reseal replaces each endpoint record it rewrites with the version it read; run it while no other process writes
//     the store (the embedded store's file lock guarantees that for bbolt).
//   - A lost operator key cannot be recovered: the endpoints whose secrets it sealed no longer load, and can only be
//     deleted and registered again (with new secrets for their receivers).
package secrets
