package cli

import (
	"cmp"
	"context"
	"flag"
	apiclient "github.com/webhookd/webhookd/client"
	"time"

	"github.com/webhookd/webhookd/wire"
)

func init() {
	register("tenants", "manage tenants over the API (create, list, show, update, delete)", runNoun("tenants",
		"Tenants own endpoints and deliveries. Creating and listing them needs the operator token.", tenantVerbs))
	register("tokens", "manage a tenant's API tokens (create, list, revoke)", runNoun("tokens",
		"A tenant token (wht_…) lets a tenant manage its own endpoints and read its deliveries. Managing tokens needs\nthe operator token.",
		tokenVerbs))
}

func (c *client) showTenant(t *wire.Tenant, err error) error {
	if err != nil {
		return err
	}
	switch {
	case c.asJSON:
		c.rawJSON()
	case c.quiet:
		c.lines(t.ID)
	default:
		c.fields("id", t.ID, "name", t.Name, "created", when(t.CreatedAt), "state", t.State,
			"retention", cmp.Or(t.Retention, "default"))
		if t.State == wire.TenantDeleting {
			c.fields("deleting since", when(t.DeletingAt))
		}
	}
	return nil
}

var tenantVerbs = []verb{
	{
		name: "create", summary: "create a tenant", nargs: [2]int{0, 0},
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			id := fs.String("id", "", "the tenant's id, 1 to 64 of [A-Za-z0-9_-] (default: a generated ten_…)")
			name := fs.String("name", "", "the tenant's name (required)")
			keep := fs.Duration("retention", 0, "the tenant's own retention period, e.g. 720h (default: the server's --retention)")
			return func(ctx context.Context, _ []string) error {
				if *name == "" {
					return usagef("--name is required")
				}
				in := wire.CreateTenant{ID: *id, Name: *name}
				if *keep != 0 {
					in.Retention = wire.Duration(*keep)
				}
				return c.showTenant(c.api.CreateTenant(ctx, in))
			}
		},
	},
	{
		name: "list", summary: "list tenants", nargs: [2]int{0, 0},
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			page := pageFlags(fs)
			return func(ctx context.Context, _ []string) error {
				l, err := c.api.ListTenants(ctx, page())
				return listPage(c, l, err,
					func(t wire.Tenant) string { return t.ID },
					[]string{"ID", "NAME", "CREATED", "STATE"},
					func(t wire.Tenant) []string { return []string{t.ID, t.Name, when(t.CreatedAt), t.State} })
			}
		},
	},
	{
		name: "show", args: "TENANT_ID", summary: "show a tenant", nargs: [2]int{1, 1},
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				return c.showTenant(c.api.GetTenant(ctx, args[0]))
			}
		},
	},
	{
		name: "update", args: "TENANT_ID", summary: "change a tenant's own retention period", nargs: [2]int{1, 1},
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			keep := fs.String("retention", "", "how long its finished deliveries and messages are kept, e.g. 720h; 0s for the server's default (required)")
			return func(ctx context.Context, args []string) error {
				if *keep == "" {
					return usagef("--retention is required")
				}
				d, err := time.ParseDuration(*keep)
				if err != nil {
					return usagef("--retention: %v", err)
				}
				return c.showTenant(c.api.UpdateTenant(ctx, args[0], wire.UpdateTenant{Retention: wire.Duration(d)}))
			}
		},
	},
	{
		name: "delete", args: "TENANT_ID", summary: "delete a tenant and all its data (asks for --yes)", nargs: [2]int{1, 1},
		longHelp: "Deletes the tenant's endpoints, tokens, console sessions, messages, deliveries, idempotency keys and\n" +
			"call log. The tenant is gone at once; its data is removed in the background. It cannot be undone.\n" +
			"The server must run with --allow-tenant-deletion.",
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			yes := fs.Bool("yes", false, "confirm: delete the tenant and all its data, for good")
			return func(ctx context.Context, args []string) error {
				if !*yes {
					return usagef("deleting tenant %s removes all its data for good: add --yes to confirm", args[0])
				}
				return c.showTenant(c.api.DeleteTenant(ctx, args[0]))
			}
		},
	},
}

var tokenVerbs = []verb{
	{
		name: "create", summary: "issue a tenant token and print it (it is shown only once)", nargs: [2]int{0, 0}, tenant: true,
		longHelp: "Prints the token text alone on standard output, so that TOKEN=$(webhookd tokens create ...) works;\nits id goes to standard error.",
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			name := fs.String("name", "", "a name for the token, e.g. what uses it")
			return func(ctx context.Context, _ []string) error {
				t, err := c.api.CreateToken(ctx, c.tenant, wire.CreateToken{Name: *name})
				if err != nil {
					return err
				}
				if c.asJSON {
					c.rawJSON()
					return nil
				}
				c.lines(t.Token)
				if !c.quiet {
					c.stdio.Err.Write([]byte("token " + t.ID + " for tenant " + t.TenantID + ": keep it now, it is not shown again\n"))
				}
				return nil
			}
		},
	},
	{
		name: "list", summary: "list a tenant's tokens (never their text)", nargs: [2]int{0, 0}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, _ []string) error {
				ts, err := c.api.ListTokens(ctx, c.tenant)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON()
				case c.quiet:
					for _, t := range ts {
						c.lines(t.ID)
					}
				default:
					rows := [][]string{{"ID", "NAME", "CREATED", "REVOKED"}}
					for _, t := range ts {
						rows = append(rows, []string{t.ID, t.Name, when(t.CreatedAt), cmp.Or(when(t.RevokedAt), "-")})
					}
					c.table(rows)
				}
				return nil
			}
		},
	},
	removeVerb("revoke", "TOKEN_ID", "revoke a token: it stops working at once", "revoked",
		func(a *apiclient.Client) func(context.Context, string, string) error { return a.RevokeToken }),
}
