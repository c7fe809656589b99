package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	apiclient "github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/wire"
)

func init() {
	register("portal", "open or revoke a tenant's console session (open, revoke)", runNoun("portal",
		"The tenant console is a web page at /console/ where a tenant manages its endpoints and reads its deliveries.\n"+
			"A session is a short-lived link to it for one tenant; an EMM console opens one for its customer.", portalVerbs))
}

var portalVerbs = []verb{
	{
		name: "open", summary: "open a console session and print its URL", nargs: [2]int{0, 0}, tenant: true,
		longHelp: "Prints the session's URL alone on standard output (open it in a browser); its id and expiry go to\nstandard error. The token is in the URL's fragment, which browsers never send to a server.",
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			ttl := fs.Duration("ttl", time.Hour, "how long the session lasts, at most 24h")
			readOnly := fs.Bool("read-only", false, "the session can only read: no endpoint changes, tests or retries")
			return func(ctx context.Context, _ []string) error {
				s, err := c.api.OpenPortal(ctx, c.tenant, wire.CreatePortalSession{TTL: wire.Duration(*ttl), ReadOnly: *readOnly})
				if apiclient.IsNotFound(err) {
					fmt.Fprintf(c.stdio.Err, "no tenant %s: create it first with: webhookd tenants create --id %s --name %s\n",
						c.tenant, c.tenant, c.tenant)
				}
				if err != nil {
					return err
				}
				if c.asJSON {
					c.rawJSON()
					return nil
				}
				c.lines(s.URL)
				if !c.quiet {
					mode := ""
					if s.ReadOnly {
						mode = " (read-only)"
					}
					c.stdio.Err.Write([]byte("console session " + s.ID + " for tenant " + s.TenantID + mode + ", until " +
						when(s.ExpiresAt) + "; revoke it with: webhookd portal revoke --tenant " + s.TenantID + " " + s.ID + "\n"))
				}
				return nil
			}
		},
	},
	removeVerb("revoke", "SESSION_ID", "revoke a console session: it stops working at once", "revoked",
		func(a *apiclient.Client) func(context.Context, string, string) error { return a.RevokePortal }),
}
