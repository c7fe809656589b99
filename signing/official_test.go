package signing_test

import (
	"encoding/base64"
	mathrand "math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/webhookd/webhookd/signing"
)

// TestOfficialLibraryAgrees cross-checks Sign against the Standard Webhooks reference library for Go: for random
// secrets, ids, timestamps and bodies the headers are equal byte for byte, and the library's Verify accepts ours.
func TestOfficialLibraryAgrees(t *testing.T) {
	rng := mathrand.New(mathrand.NewPCG(3, 4))
	now := time.Now()
	for i := range 300 {
		secret := "whsec_" + base64.StdEncoding.EncodeToString(randBytes(rng, signing.MinSecretSize+rng.IntN(41)))
		id := "msg_" + strconv.FormatUint(rng.Uint64(), 36)
		ts := now.Add(time.Duration(rng.IntN(480)-240) * time.Second).Unix() // well inside the library's 5-minute window
		if i%3 == 0 {
			ts = rng.Int64N(1 << 40) // any timestamp, for the byte-for-byte comparison
		}
		body := randBytes(rng, rng.IntN(4096))

		key, err := signing.ParseKey(secret)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := signing.Sign(id, ts, body, key)
		if err != nil {
			t.Fatal(err)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := wh.Sign(id, time.Unix(ts, 0), body)
		if err != nil {
			t.Fatal(err)
		}
		if ours != theirs {
			t.Fatalf("case %d: ours %s, official %s", i, ours, theirs)
		}

		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", ours)
		verify := wh.Verify
		if i%3 == 0 {
			verify = wh.VerifyIgnoringTimestamp
		}
		if err := verify(body, h); err != nil {
			t.Fatalf("case %d: official Verify rejected our signature: %v", i, err)
		}
		// Rotation: the library must find our signature among others.
		other, _ := signing.GenerateSecret(0)
		ok, _ := signing.ParseKey(other)
		h.Set("webhook-signature", mustSign(t, id, ts, body, ok, key))
		if err := verify(body, h); err != nil {
			t.Fatalf("case %d: official Verify rejected a rotation header: %v", i, err)
		}
		body = append(body, 'x')
		if err := verify(body, h); err == nil {
			t.Fatalf("case %d: official Verify accepted a changed body", i)
		}
	}
}

func mustSign(t testing.TB, id string, ts int64, body []byte, keys ...signing.Key) string {
	t.Helper()
	s, err := signing.Sign(id, ts, body, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
