package verifier_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// FuzzSignVerify checks, for any id, timestamp and body, that what signing.Sign produces Verify accepts (with the
// right key and signature index), and that any change to the body is refused.
func FuzzSignVerify(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`), uint16(0), byte(1))
	f.Add("x", int64(0), []byte{}, uint16(3), byte(0x80))
	f.Add("msg_ünï", int64(-1), []byte("\x00\xff"), uint16(1), byte(0xff))
	hm, _ := signing.ParseKey(secretA)
	ed, _ := signing.ParsePrivateKey(privKey)
	v, err := verifier.New(verifier.Config{Keys: []string{secretB, secretA, pubKey}, Timestamps: verifier.TimestampSkip})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id string, ts int64, body []byte, at uint16, flip byte) {
		if id == "" {
			t.Skip() // a missing header; TestStandardErrors covers it
		}
		sig, err := signing.Sign(id, ts, body, hm, ed)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("Webhook-Id", id)
		h.Set("Webhook-Timestamp", strconv.FormatInt(ts, 10))
		h.Set("Webhook-Signature", sig)
		res, err := v.Verify(h, body)
		if err != nil {
			t.Fatalf("Verify(Sign(x)): %v", err)
		}
		if res.KeyIndex != 1 || res.SignatureIndex != 0 || res.Version != "v1" || res.MessageID != id || res.Timestamp.Unix() != ts {
			t.Fatalf("Result = %+v", res)
		}
		// The ed25519 signature alone verifies too, under the public key.
		h.Set("Webhook-Signature", sig[len(sig)-92:])
		if res, err := v.Verify(h, body); err != nil || res.KeyIndex != 2 || res.Version != "v1a" {
			t.Fatalf("v1a alone: %+v, %v", res, err)
		}
		h.Set("Webhook-Signature", sig)
		tampered := append([]byte(nil), body...)
		if len(tampered) == 0 || flip == 0 {
			tampered = append(tampered, flip|1)
		} else {
			tampered[int(at)%len(tampered)] ^= flip
		}
		if _, err := v.Verify(h, tampered); !errors.Is(err, verifier.ErrNoMatchingSignature) {
			t.Fatalf("tampered body %q (was %q): %v", tampered, body, err)
		}
	})
}
