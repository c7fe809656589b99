package verifier_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/verifier"
)

// The interop tests check webhookd against code it did not write: the npm standardwebhooks package (pinned in
// interop/package.json) and Node's own crypto. They need node and `npm ci` in interop/; without them they skip,
// except under CI=true, where they fail.

const interopDir = "../interop"

// runNode runs interop/interop.mjs op with cases as its JSON input and decodes its JSON output into out.
func runNode(t *testing.T, op string, cases any, out any) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		interopUnavailable(t, "node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(interopDir, "node_modules", "standardwebhooks", "package.json")); err != nil {
		interopUnavailable(t, "interop/node_modules is missing: run `npm ci` in interop/")
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "interop.mjs", op)
	cmd.Dir = interopDir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node interop.mjs %s: %v\n%s", op, err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("node interop.mjs %s: output %.200q: %v", op, stdout, err)
	}
}

func interopUnavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("interop: %s; CI=true, so this is a failure, not a skip", why)
	}
	t.Skipf("interop: %s", why)
}

// utf8Body returns random valid UTF-8 text: standardwebhooks for Node signs payload.toString(), so bytes that are
// not UTF-8 would be replaced before signing (a limitation of that package, not of the scheme).
func utf8Body(rng *mathrand.Rand) []byte {
	ranges := [][2]rune{{0x20, 0x7e}, {0x00, 0x1f}, {0xa0, 0x7ff}, {0x800, 0xd7ff}, {0xe000, 0xfffd}, {0x10000, 0x10ffff}}
	var b []byte
	for range rng.IntN(2000) {
		r := ranges[rng.IntN(len(ranges))]
		b = utf8.AppendRune(b, r[0]+rune(rng.IntN(int(r[1]-r[0]+1))))
	}
	return b
}

func randomSecret(rng *mathrand.Rand) string {
	raw := make([]byte, signing.MinSecretSize+rng.IntN(signing.MaxSecretSize-signing.MinSecretSize+1))
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	return signing.SecretPrefix + base64.StdEncoding.EncodeToString(raw)
}

func mustParse(t *testing.T, p profiles.Profile, s string) signing.Key {
	t.Helper()
	k, err := p.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// (a) Signed by webhookd, verified by the npm standardwebhooks package.
func TestInteropNodeVerifiesOurV1(t *testing.T) {
	type vcase struct {
		Secret  string            `json:"secret"`
		Headers map[string]string `json:"headers"`
		Body    []byte            `json:"body"`
	}
	rng := mathrand.New(mathrand.NewPCG(5, 6))
	now := time.Now()
	var cases []vcase
	for i := range 60 {
		secret, other := randomSecret(rng), randomSecret(rng)
		keys := []signing.Key{mustParse(t, profiles.Standard, secret)}
		if i%3 == 0 { // rotation: theirs must find our signature among others
			keys = []signing.Key{mustParse(t, profiles.Standard, other), keys[0], mustParse(t, profiles.Standard, privKey)}
		}
		m := &signing.Message{
			ID:        signing.NewMessageID(),
			Type:      "device.enrolled",
			Timestamp: now,
			Data:      json.RawMessage(strconv.Quote(string(utf8Body(rng)))), // not valid JSON in general: fine
		}
		body := profiles.Standard.AppendBody(nil, m)
		if i%2 == 0 {
			body = utf8Body(rng) // any text
		}
		h := http.Header{}
		profiles.Standard.SetHeaders(h, m, body, now.Add(time.Duration(rng.IntN(240)-120)*time.Second), keys)
		headers := map[string]string{}
		for k := range h {
			headers[strings.ToLower(k)] = h.Get(k)
		}
		cases = append(cases, vcase{secret, headers, body})
	}
	// Negative controls: the same package must refuse a changed body and a wrong key, or the check above is empty.
	tampered := cases[0]
	tampered.Body = append(bytes.Clone(tampered.Body), 'x')
	wrongKey := cases[1]
	wrongKey.Secret = randomSecret(rng)
	cases = append(cases, tampered, wrongKey)

	var results []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	runNode(t, "verify-v1", cases, &results)
	if len(results) != len(cases) {
		t.Fatalf("%d results for %d cases", len(results), len(cases))
	}
	for i, r := range results[:len(results)-2] {
		if !r.OK {
			t.Errorf("case %d: standardwebhooks rejected our signature: %s (header %s)", i, r.Error, cases[i].Headers["webhook-signature"])
		}
	}
	for _, r := range results[len(results)-2:] {
		if r.OK || !strings.Contains(r.Error, "No matching signature") {
			t.Errorf("negative control accepted: %+v", r)
		}
	}
}

// (b) Signed by the npm standardwebhooks package, verified by our Verifier (and equal to our Sign).
func TestInteropWeVerifyNodeV1(t *testing.T) {
	type scase struct {
		Secret    string `json:"secret"`
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Body      []byte `json:"body"`
	}
	rng := mathrand.New(mathrand.NewPCG(7, 8))
	now := time.Now()
	var cases []scase
	for range 60 {
		cases = append(cases, scase{
			Secret:    randomSecret(rng),
			ID:        signing.NewMessageID().String(),
			Timestamp: now.Unix() - int64(rng.IntN(200)),
			Body:      utf8Body(rng),
		})
	}
	var results []struct {
		Signature string `json:"signature"`
	}
	runNode(t, "sign-v1", cases, &results)
	if len(results) != len(cases) {
		t.Fatalf("%d results for %d cases", len(results), len(cases))
	}
	for i, c := range cases {
		v := newVerifier(t, verifier.Config{Keys: []string{randomSecret(rng), c.Secret}, Now: time.Now})
		h := http.Header{}
		h.Set("webhook-id", c.ID)
		h.Set("webhook-timestamp", strconv.FormatInt(c.Timestamp, 10))
		h.Set("webhook-signature", results[i].Signature)
		res, err := v.Verify(h, c.Body)
		if err != nil || res.KeyIndex != 1 || res.Version != "v1" {
			t.Errorf("case %d: our Verifier on standardwebhooks' %q: %+v, %v", i, results[i].Signature, res, err)
		}
		ours, _ := signing.Sign(c.ID, c.Timestamp, c.Body, mustParse(t, profiles.Standard, c.Secret))
		if ours != results[i].Signature {
			t.Errorf("case %d: ours %s, standardwebhooks %s", i, ours, results[i].Signature)
		}
		if _, err := v.Verify(h, append(bytes.Clone(c.Body), ' ')); err == nil {
			t.Errorf("case %d: a changed body verified", i)
		}
	}
}

// (c) Our v1a signatures, verified by node:crypto with the whpk_ key imported as JWK and as SPKI DER.
func TestInteropNodeCryptoVerifiesOurV1a(t *testing.T) {
	type ecase struct {
		Public    string `json:"public"`
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Signature string `json:"signature"`
		Body      []byte `json:"body"`
	}
	rng := mathrand.New(mathrand.NewPCG(9, 10))
	var cases []ecase
	for i := range 40 {
		priv, pub, err := signing.GenerateKeyPair()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			priv, pub = privKey, pubKey // profiles.md's vector
		}
		body := make([]byte, rng.IntN(3000)) // any bytes: ed25519 signs raw bytes, no text decoding in the way
		for j := range body {
			body[j] = byte(rng.Uint32())
		}
		id, ts := signing.NewMessageID().String(), rng.Int64N(1<<33)
		keys := []signing.Key{mustParse(t, profiles.Standard, randomSecret(rng)), mustParse(t, profiles.Standard, priv)}
		sig, err := signing.Sign(id, ts, body, keys...)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, ecase{pub, id, ts, sig, body})
	}
	bad := cases[1]
	bad.Body = append(bytes.Clone(bad.Body), 0)
	other := cases[2]
	other.Public = cases[3].Public
	cases = append(cases, bad, other)

	var results []struct {
		JWK  bool `json:"jwk"`
		SPKI bool `json:"spki"`
	}
	runNode(t, "verify-v1a", cases, &results)
	if len(results) != len(cases) {
		t.Fatalf("%d results for %d cases", len(results), len(cases))
	}
	for i, r := range results[:len(results)-2] {
		if !r.JWK || !r.SPKI {
			t.Errorf("case %d: node:crypto rejected our v1a signature: %+v", i, r)
		}
	}
	for _, r := range results[len(results)-2:] {
		if r.JWK || r.SPKI {
			t.Errorf("negative control accepted: %+v", r)
		}
	}
}

// The body-only HMACs of the openmdm and mender profiles, recomputed with node:crypto as their receivers do.
func TestInteropNodeCryptoBodyHMAC(t *testing.T) {
	type hcase struct {
		Key         string `json:"key"`
		KeyEncoding string `json:"keyEncoding"`
		Body        []byte `json:"body"`
		want        string
	}
	var cases []hcase
	for _, p := range []profiles.Profile{profiles.OpenMDM, profiles.Mender} {
		for range 10 {
			secret, _, err := p.GenerateKey(signing.HMAC)
			if err != nil {
				t.Fatal(err)
			}
			msg := render(t, p, time.Now(), secret)
			c := hcase{Key: secret, KeyEncoding: "utf8", Body: msg.body, want: strings.TrimPrefix(msg.header.Get("X-Openmdm-Signature"), "sha256=")}
			if p == profiles.Mender {
				c.KeyEncoding, c.want = "hex", msg.header.Get("X-Men-Signature")
			}
			cases = append(cases, c)
		}
	}
	var results []struct {
		Hex string `json:"hex"`
	}
	runNode(t, "hmac", cases, &results)
	if len(results) != len(cases) {
		t.Fatalf("%d results for %d cases", len(results), len(cases))
	}
	for i, c := range cases {
		if c.want == "" || results[i].Hex != c.want {
			t.Errorf("case %d (%s key): node %s, ours %s", i, c.KeyEncoding, results[i].Hex, c.want)
		}
	}
}
