package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// Algorithm names a signature scheme.
type Algorithm uint8

const (
	// HMAC is HMAC-SHA256, version tag "v1" under the standard profile.
	HMAC Algorithm = iota + 1
	// Ed25519 is ed25519, version tag "v1a" under the standard profile.
	Ed25519
)

// String returns "hmac" or "ed25519".
func (a Algorithm) String() string {
	switch a {
	case HMAC:
		return "hmac"
	case Ed25519:
		return "ed25519"
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// ParseAlgorithm parses "hmac" or "ed25519".
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "hmac":
		return HMAC, nil
	case "ed25519":
		return Ed25519, nil
	}
	return 0, fmt.Errorf("%w: %q (want hmac or ed25519)", ErrAlgorithm, s)
}

// Key serialisation prefixes.
const (
	SecretPrefix     = "whsec_" // HMAC secret
	PrivateKeyPrefix = "whsk_"  // ed25519 private key
	PublicKeyPrefix  = "whpk_"  // ed25519 public key
)

// Secret size limits, in bytes, for whsec_ secrets.
const (
	MinSecretSize     = 24
	MaxSecretSize     = 64
	DefaultSecretSize = 32
)

// Errors returned by key parsing. Each names the rule that failed; parse errors wrap one of them.
var (
	ErrKeyEmpty    = errors.New("key is empty")
	ErrKeyPrefix   = errors.New("key has the wrong prefix")
	ErrKeyEncoding = errors.New("key is not valid base64")
	ErrKeyTooShort = errors.New("key is too short")
	ErrKeyTooLong  = errors.New("key is too long")
	ErrKeySize     = errors.New("key has the wrong size")
	ErrKeyMismatch = errors.New("ed25519 key halves do not match")
	ErrAlgorithm   = errors.New("unsupported algorithm")
)

var b64 = base64.StdEncoding

// Key is a parsed signing key: an HMAC secret or an ed25519 private key. The zero Key is invalid. Keys are safe for
// concurrent use and cheap to copy.
type Key struct {
	alg  Algorithm
	priv ed25519.PrivateKey // Ed25519
	mac  *macPool           // HMAC
}

// macPool recycles keyed HMAC states and scratch space for one secret, so that signing allocates nothing.
type macPool struct {
	secret []byte
	pool   sync.Pool // *macState
}

type macState struct {
	h   hash.Hash
	buf []byte // "<id>.<timestamp>." scratch
	sum [sha256.Size]byte
}

func newMacPool(secret []byte) *macPool {
	p := &macPool{secret: bytes.Clone(secret)}
	p.pool.New = func() any { return &macState{h: hmac.New(sha256.New, p.secret), buf: make([]byte, 0, 96)} }
	return p
}

func (p *macPool) get() *macState {
	s := p.pool.Get().(*macState)
	s.h.Reset()
	return s
}

func (p *macPool) put(s *macState) { p.pool.Put(s) }

// Algorithm reports the key's algorithm.
func (k Key) Algorithm() Algorithm { return k.alg }

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.alg == 0 }

// Public returns the ed25519 public key in whpk_ form, or "" for an HMAC key.
func (k Key) Public() string {
	if k.alg != Ed25519 {
		return ""
	}
	return PublicKeyPrefix + b64.EncodeToString(k.priv.Public().(ed25519.PublicKey))
}

// Equal reports whether two keys hold the same material, in constant time.
func (k Key) Equal(o Key) bool {
	if k.alg != o.alg {
		return false
	}
	switch k.alg {
	case HMAC:
		return hmac.Equal(k.mac.secret, o.mac.secret)
	case Ed25519:
		return k.priv.Equal(o.priv)
	}
	return true
}

// NewHMACKey makes an HMAC key from raw secret bytes, without size rules. Profiles whose receivers key HMAC with
// other material (OpenMDM: the secret's UTF-8 bytes; Mender: hex-decoded bytes) use it.
func NewHMACKey(secret []byte) Key {
	return Key{alg: HMAC, mac: newMacPool(secret)}
}

// NewEd25519Key makes a signing key from an ed25519 private key.
func NewEd25519Key(priv ed25519.PrivateKey) Key {
	return Key{alg: Ed25519, priv: bytes.Clone(priv)}
}

// ParseKey parses a whsec_ secret or a whsk_ private key.
func ParseKey(s string) (Key, error) {
	switch {
	case s == "":
		return Key{}, ErrKeyEmpty
	case strings.HasPrefix(s, SecretPrefix):
		return ParseSecret(s)
	case strings.HasPrefix(s, PrivateKeyPrefix):
		return ParsePrivateKey(s)
	}
	return Key{}, fmt.Errorf("%w: want %s or %s", ErrKeyPrefix, SecretPrefix, PrivateKeyPrefix)
}

// ParseSecret parses a whsec_ secret of 24 to 64 bytes.
func ParseSecret(s string) (Key, error) {
	raw, err := decode(s, SecretPrefix)
	if err != nil {
		return Key{}, err
	}
	switch {
	case len(raw) < MinSecretSize:
		return Key{}, fmt.Errorf("%w: %d bytes, need at least %d", ErrKeyTooShort, len(raw), MinSecretSize)
	case len(raw) > MaxSecretSize:
		return Key{}, fmt.Errorf("%w: %d bytes, at most %d", ErrKeyTooLong, len(raw), MaxSecretSize)
	}
	return NewHMACKey(raw), nil
}

// ParsePrivateKey parses a whsk_ ed25519 private key: the 64-byte seed+public form (the halves must agree) or the
// 32-byte seed.
func ParsePrivateKey(s string) (Key, error) {
	raw, err := decode(s, PrivateKeyPrefix)
	if err != nil {
		return Key{}, err
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return Key{alg: Ed25519, priv: ed25519.NewKeyFromSeed(raw)}, nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(priv[ed25519.SeedSize:], raw[ed25519.SeedSize:]) {
			return Key{}, ErrKeyMismatch
		}
		return Key{alg: Ed25519, priv: priv}, nil
	}
	return Key{}, fmt.Errorf("%w: %d bytes, want %d or %d", ErrKeySize, len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
}

// ParsePublicKey parses a whpk_ ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := decode(s, PublicKeyPrefix)
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKeySize, len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

func decode(s, prefix string) ([]byte, error) {
	if s == "" {
		return nil, ErrKeyEmpty
	}
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, fmt.Errorf("%w: want %s", ErrKeyPrefix, prefix)
	}
	if rest == "" {
		return nil, ErrKeyEmpty
	}
	raw, err := b64.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyEncoding, err)
	}
	return raw, nil
}

// GenerateSecret returns a fresh whsec_ secret of size random bytes (0 means DefaultSecretSize).
func GenerateSecret(size int) (string, error) {
	if size == 0 {
		size = DefaultSecretSize
	}
	if size < MinSecretSize {
		return "", fmt.Errorf("%w: %d bytes, need at least %d", ErrKeyTooShort, size, MinSecretSize)
	}
	if size > MaxSecretSize {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrKeyTooLong, size, MaxSecretSize)
	}
	raw := make([]byte, size)
	rand.Read(raw)
	return SecretPrefix + b64.EncodeToString(raw), nil
}

// GenerateKeyPair returns a fresh ed25519 key pair as whsk_ (64-byte form) and whpk_ strings.
func GenerateKeyPair() (private, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	return PrivateKeyPrefix + b64.EncodeToString(priv), PublicKeyPrefix + b64.EncodeToString(pub), nil
}
