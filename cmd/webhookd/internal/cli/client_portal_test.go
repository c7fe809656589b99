package cli

import (
	"strings"
	"testing"
)

func TestPortalCommands(t *testing.T) {
	a := newClAPI(t)
	a.ok(t, "tenants", "create", "--id", "acme", "--name", "Acme")

	code, out, errOut := a.wh(t, "portal", "open", "--tenant", "acme")
	url := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(url, a.url+"/console/#tenant=acme&token=whp_") || strings.Contains(url, "\n") {
		t.Fatalf("portal open: exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	mustContain(t, "portal open stderr", errOut, "console session ps_", "for tenant acme", "webhookd portal revoke --tenant acme ps_")
	id := strings.Fields(errOut)[2]
	token := url[strings.Index(url, "token=")+len("token="):]

	// The session works as the tenant, then stops once revoked.
	if code, _, errOut := run(t, "", "endpoints", "list", "--tenant", "acme", "--url", a.url, "--token", token); code != 0 {
		t.Fatalf("the session's token: exit %d: %s", code, errOut)
	}
	mustContain(t, "portal revoke", a.ok(t, "portal", "revoke", "--tenant", "acme", id), "revoked "+id)
	code, _, errOut = run(t, "", "endpoints", "list", "--tenant", "acme", "--url", a.url, "--token", token)
	if code == 0 || !strings.Contains(errOut, "session_revoked") {
		t.Errorf("revoked session: exit %d: %s", code, errOut)
	}

	ro := a.okJSON(t, "portal", "open", "--tenant", "acme", "--read-only", "--ttl", "10m")
	if ro["read_only"] != true || !strings.Contains(ro["url"].(string), "ro=1") {
		t.Errorf("read-only session %v", ro)
	}
	if code, _, errOut := a.wh(t, "portal", "open", "--tenant", "acme", "--ttl", "25h"); code == 0 || !strings.Contains(errOut, "ttl") {
		t.Errorf("--ttl 25h: exit %d: %s", code, errOut)
	}
	if code, _, errOut := a.wh(t, "portal", "open", "--tenant", "nobody"); code == 0 || !strings.Contains(errOut, "webhookd tenants create --id nobody") {
		t.Errorf("unknown tenant: exit %d: %s", code, errOut)
	}
	if code, _, errOut := a.wh(t, "portal", "open"); code != 2 || !strings.Contains(errOut, "--tenant") {
		t.Errorf("without --tenant: exit %d: %s", code, errOut)
	}
}
