package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

func init() {
	register("endpoints", "manage a tenant's endpoints over the API (create, list, update, rotate, test, …)",
		runNoun("endpoints", "Endpoints are the URLs webhookd delivers a tenant's events to. The operator token or the\ntenant's own token may manage them.", endpointVerbs))
}

type endpointJSON struct {
	ID          string            `json:"id"`
	TenantID    string            `json:"tenant_id"`
	URL         string            `json:"url"`
	Description string            `json:"description"`
	Events      []string          `json:"events"`
	Profile     string            `json:"profile"`
	Signing     string            `json:"signing"`
	Keys        []keyJSON         `json:"keys"`
	Headers     map[string]string `json:"headers"`
	RateLimit   float64           `json:"rate_limit"`
	Timeout     string            `json:"timeout"`
	Metadata    map[string]string `json:"metadata"`
	Disabled    bool              `json:"disabled"`
	Reason      string            `json:"disabled_reason"`
	Failing     string            `json:"failing_since"`
	CreatedAt   string            `json:"created_at"`
	UpdatedAt   string            `json:"updated_at"`
}

type keyJSON struct {
	Secret    string `json:"secret"`
	PublicKey string `json:"public_key"`
	CreatedAt string `json:"created_at"`
	ExpiresAt string `json:"expires_at"`
}

func (e endpointJSON) status() string {
	if e.Disabled {
		return "disabled (" + cmp.Or(e.Reason, "?") + ")"
	}
	if e.Failing != "" {
		return "failing"
	}
	return "enabled"
}

// showEndpoint prints one endpoint answer.
func (c *client) showEndpoint(raw []byte, e endpointJSON) {
	switch {
	case c.asJSON:
		c.rawJSON(raw)
		return
	case c.quiet:
		c.lines(e.ID)
		return
	}
	rate := "unlimited"
	if e.RateLimit > 0 {
		rate = fmt.Sprintf("%g/s", e.RateLimit)
	}
	pairs := []string{
		"id", e.ID, "url", e.URL, "description", e.Description, "events", strings.Join(e.Events, ", "),
		"profile", e.Profile, "signing", e.Signing,
	}
	for i, k := range e.Keys {
		v := "created " + when(k.CreatedAt)
		if k.ExpiresAt != "" {
			v += ", signs until " + when(k.ExpiresAt)
		}
		if k.PublicKey != "" {
			v += ", " + k.PublicKey
		}
		pairs = append(pairs, fmt.Sprintf("key %d", i+1), v)
	}
	pairs = append(pairs, "headers", joinMap(e.Headers, ": "), "rate limit", rate, "timeout", e.Timeout,
		"metadata", joinMap(e.Metadata, "="), "status", e.status(), "failing since", when(e.Failing),
		"created", when(e.CreatedAt), "updated", when(e.UpdatedAt))
	c.fields(pairs...)
}

func joinMap(m map[string]string, sep string) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for i, k := range ks {
		ks[i] = k + sep + m[k]
	}
	return strings.Join(ks, ", ")
}

// endpointFields declares the flags of create and update and returns a function that builds the request body from the
// flags given on the command line.
func endpointFields(fs *flag.FlagSet, update bool) func() (map[string]any, error) {
	var (
		headers, metadata listFlag
		noHeaders         = new(bool)
		noMetadata        = new(bool)
	)
	newURL := new(string)
	if update {
		fs.StringVar(newURL, "endpoint-url", "", "a new URL (checked with the URL policy and the OPTIONS handshake)")
	}
	events := fs.String("events", "", `comma-separated filters: "*", an event type, or "prefix.*" (default on create: *)`)
	desc := fs.String("description", "", "a description")
	profile := fs.String("profile", "", "header profile: standard, openmdm or mender (default on create: standard)")
	signing := fs.String("signing", "", "hmac or ed25519 (ed25519: standard profile only; default on create: hmac)")
	secret := fs.String("secret", "", "the key in the profile's form (webhookd keys new makes one); generated when absent")
	fs.Var(&headers, "header", `a custom header sent with every delivery, "Name: value" (repeat for several)`)
	rate := fs.Float64("rate-limit", 0, "deliveries per second at most; 0 is unlimited")
	timeout := fs.String("timeout", "", "time each attempt gets, 100ms to 30s (default on create: 1s)")
	fs.Var(&metadata, "metadata", `free-form "key=value" (repeat for several)`)
	if update {
		fs.BoolVar(noHeaders, "no-headers", false, "remove every custom header")
		fs.BoolVar(noMetadata, "no-metadata", false, "remove all metadata")
	}
	return func() (map[string]any, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		body := map[string]any{}
		if set["endpoint-url"] {
			body["url"] = *newURL
		}
		if set["events"] {
			body["events"] = splitList(*events)
		}
		if set["description"] {
			body["description"] = *desc
		}
		if set["profile"] {
			body["profile"] = *profile
		}
		if set["signing"] {
			body["signing"] = *signing
		}
		if set["secret"] {
			body["secret"] = *secret
		}
		if set["rate-limit"] {
			body["rate_limit"] = *rate
		}
		if set["timeout"] {
			body["timeout"] = *timeout
		}
		if set["header"] || *noHeaders {
			h := map[string]string{}
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return nil, usagef(`--header %q: want "Name: value"`, kv)
				}
				h[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			body["headers"] = h
		}
		if set["metadata"] || *noMetadata {
			m := map[string]string{}
			for _, kv := range metadata {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return nil, usagef(`--metadata %q: want "key=value"`, kv)
				}
				m[k] = v
			}
			body["metadata"] = m
		}
		return body, nil
	}
}

// endpointCall is a verb that sends one request about one endpoint and prints the endpoint it answers with.
func endpointCall(method, action string, body func() (map[string]any, error)) func(*client) func(context.Context, []string) error {
	return func(c *client) func(context.Context, []string) error {
		return func(ctx context.Context, args []string) error {
			var b any
			if body != nil {
				m, err := body()
				if err != nil {
					return err
				}
				b = m
			}
			parts := []string{"endpoints", args[0]}
			if action != "" {
				parts = append(parts, action)
			}
			var e endpointJSON
			raw, err := c.get(ctx, method, c.tenantPath(parts...), nil, b, &e)
			if err != nil {
				return err
			}
			c.showEndpoint(raw, e)
			return nil
		}
	}
}

var endpointVerbs = []verb{
	{
		name: "create", args: "URL", summary: "register an endpoint (webhookd checks it with an OPTIONS handshake first)",
		nargs: [2]int{1, 1}, tenant: true,
		longHelp: `The URL must answer OPTIONS with a 2xx and an Allow header that lists POST (webhookd receive does).
It must be https and resolve to a public address unless the server runs with --allow-http-endpoints and
--allow-private-endpoints (make run does). Read the endpoint's secret with: webhookd endpoints secret ID.`,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			fields := endpointFields(fs, false)
			return func(ctx context.Context, args []string) error {
				body, err := fields()
				if err != nil {
					return err
				}
				body["url"] = args[0]
				var e endpointJSON
				raw, err := c.get(ctx, http.MethodPost, c.tenantPath("endpoints"), nil, body, &e)
				if err != nil {
					return err
				}
				c.showEndpoint(raw, e)
				return nil
			}
		},
	},
	{
		name: "list", summary: "list the tenant's endpoints", nargs: [2]int{0, 0}, tenant: true,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			page := pageFlags(fs)
			return func(ctx context.Context, _ []string) error {
				return listPage(ctx, c, c.tenantPath("endpoints"), page(),
					func(e endpointJSON) string { return e.ID },
					[]string{"ID", "STATUS", "PROFILE", "EVENTS", "URL"},
					func(e endpointJSON) []string {
						return []string{e.ID, e.status(), e.Profile + "/" + e.Signing, strings.Join(e.Events, ","), e.URL}
					})
			}
		},
	},
	{
		name: "show", args: "ENDPOINT_ID", summary: "show an endpoint", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return endpointCall(http.MethodGet, "", nil)(c)
		},
	},
	{
		name: "update", args: "ENDPOINT_ID", summary: "change an endpoint: only the flags given change", nargs: [2]int{1, 1}, tenant: true,
		longHelp: `--header and --metadata replace the whole set. --secret is accepted only with a change of --profile
or --signing; to change the key of the same scheme, use rotate.`,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			fields := endpointFields(fs, true)
			return endpointCall(http.MethodPatch, "", func() (map[string]any, error) {
				b, err := fields()
				if err == nil && len(b) == 0 {
					err = usagef("nothing to change: give at least one flag")
				}
				return b, err
			})(c)
		},
	},
	{
		name: "delete", args: "ENDPOINT_ID", summary: "delete an endpoint", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				if _, err := c.call(ctx, http.MethodDelete, c.tenantPath("endpoints", args[0]), nil, nil); err != nil {
					return err
				}
				if !c.asJSON && !c.quiet {
					c.lines("deleted " + args[0])
				}
				return nil
			}
		},
	},
	{
		name: "enable", args: "ENDPOINT_ID", summary: "enable an endpoint (its URL is checked again)", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return endpointCall(http.MethodPost, "enable", nil)(c)
		},
	},
	{
		name: "disable", args: "ENDPOINT_ID", summary: "disable an endpoint: no new deliveries", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return endpointCall(http.MethodPost, "disable", nil)(c)
		},
	},
	{
		name: "rotate", args: "ENDPOINT_ID", summary: "make a new signing key; the old one signs beside it for --grace",
		nargs: [2]int{1, 1}, tenant: true,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			secret := fs.String("secret", "", "the new key in the profile's form (default: generated)")
			grace := fs.String("grace", "", `how long the old key keeps signing, e.g. "1h"; "0s" drops it at once (default: the server's, 24h)`)
			return endpointCall(http.MethodPost, "rotate", func() (map[string]any, error) {
				b := map[string]any{}
				if *secret != "" {
					b["secret"] = *secret
				}
				if *grace != "" {
					b["grace"] = *grace
				}
				return b, nil
			})(c)
		},
	},
	{
		name: "secret", args: "ENDPOINT_ID", summary: "print the keys the receiver must trust, newest first",
		nargs: [2]int{1, 1}, tenant: true,
		longHelp: "HMAC keys are printed with their secret, ed25519 keys with their public key only. With -q, only the\nnewest key: RECEIVER_KEY=$(webhookd endpoints secret -q ID).",
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				var s struct {
					Keys []keyJSON `json:"keys"`
				}
				raw, err := c.get(ctx, http.MethodGet, c.tenantPath("endpoints", args[0], "secret"), nil, nil, &s)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON(raw)
				case c.quiet:
					if len(s.Keys) > 0 {
						c.lines(cmp.Or(s.Keys[0].Secret, s.Keys[0].PublicKey))
					}
				default:
					rows := [][]string{{"KEY", "CREATED", "SIGNS UNTIL"}}
					for _, k := range s.Keys {
						rows = append(rows, []string{cmp.Or(k.Secret, k.PublicKey), when(k.CreatedAt), cmp.Or(when(k.ExpiresAt), "-")})
					}
					c.table(rows)
				}
				return nil
			}
		},
	},
	{
		name: "test", args: "ENDPOINT_ID", summary: "send a webhookd.test event to this endpoint alone", nargs: [2]int{1, 1}, tenant: true,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			data := fs.String("data", "", `the test event's JSON data ("-" for standard input, "@file"); default: a note naming the endpoint`)
			return func(ctx context.Context, args []string) error {
				body := map[string]any{}
				if *data != "" {
					d, err := c.jsonArg("--data", *data)
					if err != nil {
						return err
					}
					body["data"] = d
				}
				var res struct {
					MessageID  string `json:"message_id"`
					DeliveryID string `json:"delivery_id"`
				}
				raw, err := c.get(ctx, http.MethodPost, c.tenantPath("endpoints", args[0], "test"), nil, body, &res)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON(raw)
				case c.quiet:
					c.lines(cmp.Or(res.DeliveryID, res.MessageID))
				default:
					c.fields("message", res.MessageID, "delivery", res.DeliveryID)
				}
				return nil
			}
		},
	},
}
