package endpoints_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
)

// TestRefusedURLNamesTheFlag: a URL the policy refuses says which gateway flag would accept it, and only when one
// would (cloud metadata is refused under every policy).
func TestRefusedURLNamesTheFlag(t *testing.T) {
	_, st, _ := newService(t)
	ctx := context.Background()
	const (
		httpHint    = "(a gateway run with --allow-http-endpoints accepts http)"
		privateHint = "(a gateway run with --allow-private-endpoints accepts it)"
	)
	for _, tt := range []struct {
		policy egress.Policy
		url    string
		want   string // "" for no hint
	}{
		{egress.Policy{}, "http://127.0.0.1:9000/hooks", httpHint},
		{egress.Policy{AllowHTTP: true}, "http://127.0.0.1:9000/hooks", privateHint},
		{egress.Policy{}, "https://10.1.2.3/hooks", privateHint},
		{egress.Policy{AllowHTTP: true}, "http://localhost:9000/hooks", privateHint},
		{egress.Policy{AllowHTTP: true, AllowPrivate: true}, "http://169.254.169.254/latest", ""},
		{egress.Policy{}, "ftp://example.com/x", ""},
	} {
		s := endpoints.NewService(st, endpoints.Config{Policy: tt.policy})
		_, err := s.Create(ctx, "ten", endpoints.CreateInput{URL: tt.url})
		var fe *endpoints.FieldError
		if !errors.As(err, &fe) || fe.Field != "url" {
			t.Errorf("%+v %s: %v, want a url FieldError", tt.policy, tt.url, err)
			continue
		}
		if hinted := strings.Contains(fe.Message, "--allow-"); (tt.want == "" && hinted) || !strings.Contains(fe.Message, tt.want) {
			t.Errorf("%+v %s: %q, want %q", tt.policy, tt.url, fe.Message, tt.want)
		}
	}
}
