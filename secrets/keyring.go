package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Errors for callers to test with errors.Is. Their messages name key ids and endpoints, never key material or
// secrets.
var (
	// ErrNoKey: a value is sealed under a key id the keyring does not hold (or there is no keyring).
	ErrNoKey = errors.New("secrets: no operator key for this sealed secret")
	// ErrOpen: a sealed value is malformed, was tampered with, was moved to another endpoint, or the key under its id
	// is not the one that sealed it.
	ErrOpen = errors.New("secrets: sealed secret does not open")
	// ErrKeyring: a keyring specification is invalid.
	ErrKeyring = errors.New("secrets: invalid operator key")
)

// Prefix starts every sealed value: "enc:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>".
const Prefix = "enc:v1:"

// KeySize is the size of an operator key: AES-256.
const KeySize = 32

// maxIDLen bounds a key id.
const maxIDLen = 32

// Key is one operator key.
type Key struct {
	ID     string // 1 to 32 of [A-Za-z0-9_-]; see DeriveID for keys given without one
	Secret []byte // KeySize bytes
}

// Keyring is an ordered set of operator keys: the first is current and seals, every one opens what it sealed. Keep
// an old key in the ring until `webhookd secrets rotate-key` has re-sealed everything under the new one.
type Keyring struct {
	ids   []string
	aeads map[string]cipher.AEAD
}

// NewKeyring returns a keyring of keys, the first current. Ids must be unique.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrKeyring)
	}
	kr := &Keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, k := range keys {
		if !validID(k.ID) {
			// The id is not quoted: a mistyped entry may hold key material.
			return nil, fmt.Errorf("%w: key %d: its id is not 1 to %d of [A-Za-z0-9_-]", ErrKeyring, i+1, maxIDLen)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("%w: key %q: %d bytes, want %d", ErrKeyring, k.ID, len(k.Secret), KeySize)
		}
		if _, dup := kr.aeads[k.ID]; dup {
			return nil, fmt.Errorf("%w: key id %q appears twice", ErrKeyring, k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrKeyring, k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q: %w", ErrKeyring, k.ID, err)
		}
		kr.ids = append(kr.ids, k.ID)
		kr.aeads[k.ID] = aead
	}
	return kr, nil
}

// ParseKeyring parses a keyring specification: keys separated by commas or newlines, the first current, each
// "<id>:<base64 of 32 bytes>" or just the base64 (its id is then DeriveID of the key). Standard and URL-safe base64
// are accepted, padded or not. Blank entries and lines starting with "#" are ignored.
func ParseKeyring(spec string) (*Keyring, error) {
	var entries []string
	for _, line := range strings.Split(spec, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue // a comment line, in a keys file
		}
		entries = append(entries, strings.Split(line, ",")...)
	}
	var keys []Key
	for _, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		id, b64, hasID := strings.Cut(entry, ":")
		if !hasID {
			id, b64 = "", entry
		}
		raw, err := decodeBase64(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("%w: key %d is not base64", ErrKeyring, len(keys)+1)
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("%w: key %d is %d bytes, want %d (make one with: openssl rand -base64 32)", ErrKeyring, len(keys)+1, len(raw), KeySize)
		}
		id = strings.TrimSpace(id)
		if !hasID {
			id = DeriveID(raw)
		}
		keys = append(keys, Key{ID: id, Secret: raw})
	}
	return NewKeyring(keys...)
}

// GenerateKey returns a new random operator key in the form ParseKeyring reads, with the given id ("" for the
// derived one).
func GenerateKey(id string) (string, error) {
	raw := make([]byte, KeySize)
	rand.Read(raw)
	if id == "" {
		id = DeriveID(raw)
	}
	if !validID(id) {
		return "", fmt.Errorf("%w: id %q is not 1 to %d of [A-Za-z0-9_-]", ErrKeyring, id, maxIDLen)
	}
	return id + ":" + base64.StdEncoding.EncodeToString(raw), nil
}

// DeriveID is the id of a key given without one: "k" and 8 hex digits of a hash of the key. It reveals nothing
// useful about the key and is the same wherever the key is configured.
func DeriveID(key []byte) string {
	h := sha256.New()
	h.Write([]byte("webhookd operator key id\x00"))
	h.Write(key)
	return "k" + hex.EncodeToString(h.Sum(nil)[:4])
}

// CurrentID returns the id of the key that seals.
func (kr *Keyring) CurrentID() string { return kr.ids[0] }

// IDs returns every key id, the current first.
func (kr *Keyring) IDs() []string { return append([]string(nil), kr.ids...) }

// Has reports whether the keyring holds a key with this id.
func (kr *Keyring) Has(id string) bool { _, ok := kr.aeads[id]; return ok }

// Seal encrypts plaintext under the current key with ad as associated data.
func (kr *Keyring) Seal(plaintext, ad []byte) string {
	id := kr.ids[0]
	aead := kr.aeads[id]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	rand.Read(nonce)
	box := aead.Seal(nonce, nonce, plaintext, ad)
	return Prefix + id + ":" + base64.RawURLEncoding.EncodeToString(box)
}

// Open decrypts a sealed value with ad as associated data.
func (kr *Keyring) Open(sealed string, ad []byte) ([]byte, error) {
	id, box, err := split(sealed)
	if err != nil {
		return nil, err
	}
	var aead cipher.AEAD
	if kr != nil {
		aead = kr.aeads[id]
	}
	if aead == nil {
		return nil, fmt.Errorf("%w: key id %q", ErrNoKey, id)
	}
	if len(box) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrOpen)
	}
	pt, err := aead.Open(nil, box[:aead.NonceSize()], box[aead.NonceSize():], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: key id %q: authentication failed", ErrOpen, id)
	}
	return pt, nil
}

// IsSealed reports whether s is in the sealed form (whether or not it opens).
func IsSealed(s string) bool { return strings.HasPrefix(s, Prefix) }

// SealedWith returns the key id a sealed value names, or "" for a value that is not sealed.
func SealedWith(s string) string {
	id, _, err := split(s)
	if err != nil {
		return ""
	}
	return id
}

// split parses "enc:v1:<id>:<base64url>".
func split(sealed string) (id string, box []byte, err error) {
	rest, ok := strings.CutPrefix(sealed, Prefix)
	if !ok {
		return "", nil, fmt.Errorf("%w: not sealed", ErrOpen)
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok || !validID(id) {
		return "", nil, fmt.Errorf("%w: malformed", ErrOpen)
	}
	box, err = base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, fmt.Errorf("%w: malformed", ErrOpen)
	}
	return id, box, nil
}

func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := range len(id) {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
