package signing

import (
	"crypto/ed25519"
	"errors"
	"strconv"
	"sync"
)

// Version tags of the standard profile's signatures.
const (
	VersionHMAC    = "v1"
	VersionEd25519 = "v1a"
)

// ErrNoKeys is returned by Sign when it is given no keys.
var ErrNoKeys = errors.New("no signing keys")

// scratch buffers for ed25519's contiguous signed content; larger ones are left to the garbage collector.
const maxPooledContent = 64 << 10

var contentPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// AppendSignature appends one standard-profile signature ("v1,<base64>" or "v1a,<base64>") over
// "<id>.<timestamp>.<body>" to dst. It panics on the zero Key.
func (k Key) AppendSignature(dst []byte, id string, timestamp int64, body []byte) []byte {
	switch k.alg {
	case HMAC:
		s := k.mac.get()
		s.buf = append(s.buf[:0], id...)
		s.buf = append(s.buf, '.')
		s.buf = strconv.AppendInt(s.buf, timestamp, 10)
		s.buf = append(s.buf, '.')
		s.h.Write(s.buf)
		s.h.Write(body)
		sum := s.h.Sum(s.sum[:0])
		dst = append(dst, VersionHMAC...)
		dst = append(dst, ',')
		dst = b64.AppendEncode(dst, sum)
		k.mac.put(s)
		return dst
	case Ed25519:
		bp := contentPool.Get().(*[]byte)
		c := append((*bp)[:0], id...)
		c = append(c, '.')
		c = strconv.AppendInt(c, timestamp, 10)
		c = append(c, '.')
		c = append(c, body...)
		sig := ed25519.Sign(k.priv, c)
		if cap(c) <= maxPooledContent { // one large body must not pin its buffer in the pool
			*bp = c[:0]
			contentPool.Put(bp)
		}
		dst = append(dst, VersionEd25519...)
		dst = append(dst, ',')
		return b64.AppendEncode(dst, sig)
	}
	panic("signing: AppendSignature on the zero Key")
}

// AppendHeader appends the webhook-signature header value for keys: one signature per key, separated by single
// spaces, in the order given.
func AppendHeader(dst []byte, id string, timestamp int64, body []byte, keys []Key) []byte {
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = k.AppendSignature(dst, id, timestamp, body)
	}
	return dst
}

// Sign returns the webhook-signature header value for "<id>.<timestamp>.<body>" signed with every key (several keys
// during rotation), separated by single spaces.
func Sign(id string, timestamp int64, body []byte, keys ...Key) (string, error) {
	if len(keys) == 0 {
		return "", ErrNoKeys
	}
	for _, k := range keys {
		if k.IsZero() {
			return "", ErrKeyEmpty
		}
	}
	var stack [256]byte
	return string(AppendHeader(stack[:0], id, timestamp, body, keys)), nil
}

// HMACSum returns HMAC-SHA256 of body alone under k (the OpenMDM and Mender schemes sign the body only).
// It panics unless k is an HMAC key.
func (k Key) HMACSum(dst []byte, body []byte) []byte {
	if k.alg != HMAC {
		panic("signing: HMACSum on a non-HMAC key")
	}
	s := k.mac.get()
	s.h.Write(body)
	dst = s.h.Sum(dst)
	k.mac.put(s)
	return dst
}
