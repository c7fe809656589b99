package verifier_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/webhookd/webhookd/verifier"
)

// Verify the Standard Webhooks specification's example message. A real receiver leaves Now unset; the example is
// from 2021, so it pins the clock.
func ExampleVerifier_Verify() {
	v, err := verifier.New(verifier.Config{
		Keys: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		Now:  func() time.Time { return time.Unix(1614265330, 0) },
	})
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	res, err := v.Verify(h, []byte(`{"test": 2432232314}`))
	fmt.Println(res.MessageID, res.Version, res.KeyIndex, err)

	_, err = v.Verify(h, []byte(`{"test": 2432232315}`))
	fmt.Println(errors.Is(err, verifier.ErrNoMatchingSignature))
	// Output:
	// msg_p5jXN8AQM9LWM0D4loKWxJek v1 0 <nil>
	// true
}

// Trust an ed25519 public key during a rotation away from an HMAC secret: either signature verifies.
func ExampleNew_rotation() {
	v, err := verifier.New(verifier.Config{
		Keys: []string{
			"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",            // old
			"whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=", // new
		},
		Now: func() time.Time { return time.Unix(1614265330, 0) },
	})
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==")
	res, err := v.Verify(h, []byte(`{"test": 2432232314}`))
	fmt.Println(res.Version, res.KeyIndex, err)
	// Output: v1a 1 <nil>
}

// Protect a handler: it only sees verified, first-time deliveries, with the raw body.
func ExampleVerifier_Middleware() {
	v, err := verifier.New(verifier.Config{
		Profile: "mender",
		Keys:    []string{"deadbeef"},
	})
	if err != nil {
		panic(err)
	}
	handler := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, _ := verifier.ResultFrom(r.Context())
		body, _ := io.ReadAll(r.Body)
		fmt.Printf("handled %s: %s\n", res.MessageID, body)
		w.WriteHeader(http.StatusNoContent)
	}))

	body := `{"id":"0190a5e0-0000-7000-8000-000000000001","type":"device-decommissioned","data":{"id":"d1"},"time":"2026-04-15T12:00:00Z"}`
	send := func() int {
		r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
		r.Header.Set("X-Men-Signature", "fca6ab75211c54c17361d51e4987bbd77e855208c9e936c0fe303c93de04dc1d")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w.Code
	}
	fmt.Println(send())
	fmt.Println(send()) // the retry: answered 200, not handled twice
	// Output:
	// handled 0190a5e0-0000-7000-8000-000000000001: {"id":"0190a5e0-0000-7000-8000-000000000001","type":"device-decommissioned","data":{"id":"d1"},"time":"2026-04-15T12:00:00Z"}
	// 204
	// 200
}
