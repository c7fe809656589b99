package cli

import (
	"cmp"
	"context"
	"flag"
	"net/http"
	"net/url"
)

func init() {
	register("tenants", "manage tenants over the API (create, list, show)", runNoun("tenants",
		"Tenants own endpoints and deliveries. Creating and listing them needs the operator token.", tenantVerbs))
	register("tokens", "manage a tenant's API tokens (create, list, revoke)", runNoun("tokens",
		"A tenant token (wht_…) lets a tenant manage its own endpoints and read its deliveries. Managing tokens needs\nthe operator token.",
		tokenVerbs))
}

type tenantJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
}

type tokenJSON struct {
	ID        string `json:"id"`
	TenantID  string `json:"tenant_id"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	RevokedAt string `json:"revoked_at"`
	Token     string `json:"token"`
}

func (c *client) showTenant(raw []byte, t tenantJSON) {
	switch {
	case c.asJSON:
		c.rawJSON(raw)
	case c.quiet:
		c.lines(t.ID)
	default:
		c.fields("id", t.ID, "name", t.Name, "created", when(t.CreatedAt))
	}
}

var tenantVerbs = []verb{
	{
		name: "create", summary: "create a tenant", nargs: [2]int{0, 0},
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			id := fs.String("id", "", "the tenant's id, 1 to 64 of [A-Za-z0-9_-] (default: a generated ten_…)")
			name := fs.String("name", "", "the tenant's name (required)")
			return func(ctx context.Context, _ []string) error {
				if *name == "" {
					return usagef("--name is required")
				}
				body := map[string]string{"name": *name}
				if *id != "" {
					body["id"] = *id
				}
				var t tenantJSON
				raw, err := c.get(ctx, http.MethodPost, "/v1/tenants", nil, body, &t)
				if err != nil {
					return err
				}
				c.showTenant(raw, t)
				return nil
			}
		},
	},
	{
		name: "list", summary: "list tenants", nargs: [2]int{0, 0},
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			page := pageFlags(fs)
			return func(ctx context.Context, _ []string) error {
				return listPage(ctx, c, "/v1/tenants", page(),
					func(t tenantJSON) string { return t.ID },
					[]string{"ID", "NAME", "CREATED"},
					func(t tenantJSON) []string { return []string{t.ID, t.Name, when(t.CreatedAt)} })
			}
		},
	},
	{
		name: "show", args: "TENANT_ID", summary: "show a tenant", nargs: [2]int{1, 1},
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				var t tenantJSON
				raw, err := c.get(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(args[0]), nil, nil, &t)
				if err != nil {
					return err
				}
				c.showTenant(raw, t)
				return nil
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
				var t tokenJSON
				raw, err := c.get(ctx, http.MethodPost, c.tenantPath("tokens"), nil, map[string]string{"name": *name}, &t)
				if err != nil {
					return err
				}
				if c.asJSON {
					c.rawJSON(raw)
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
				var l struct {
					Data []tokenJSON `json:"data"`
				}
				raw, err := c.get(ctx, http.MethodGet, c.tenantPath("tokens"), nil, nil, &l)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON(raw)
				case c.quiet:
					for _, t := range l.Data {
						c.lines(t.ID)
					}
				default:
					rows := [][]string{{"ID", "NAME", "CREATED", "REVOKED"}}
					for _, t := range l.Data {
						rows = append(rows, []string{t.ID, t.Name, when(t.CreatedAt), cmp.Or(when(t.RevokedAt), "-")})
					}
					c.table(rows)
				}
				return nil
			}
		},
	},
	{
		name: "revoke", args: "TOKEN_ID", summary: "revoke a token: it stops working at once", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				if _, err := c.call(ctx, http.MethodDelete, c.tenantPath("tokens", args[0]), nil, nil); err != nil {
					return err
				}
				if !c.asJSON && !c.quiet {
					c.lines("revoked " + args[0])
				}
				return nil
			}
		},
	},
}
