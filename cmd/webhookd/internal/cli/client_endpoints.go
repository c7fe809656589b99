package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	apiclient "github.com/webhookd/webhookd/client"
	"sort"
	"strconv"
	"strings"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/wire"
)

func init() {
	register("endpoints", "manage a tenant's endpoints over the API (create, list, update, rotate, test, …)",
		runNoun("endpoints", "Endpoints are the URLs webhookd delivers a tenant's events to. The operator token or the\ntenant's own token may manage them.", endpointVerbs))
}

// status is an endpoint's state in a word or two.
func status(e *wire.Endpoint) string {
	if e.Disabled {
		return "disabled (" + cmp.Or(e.DisabledReason, "?") + ")"
	}
	if !e.FailingSince.IsZero() {
		return "failing"
	}
	return "enabled"
}

// showEndpoint prints one endpoint answer.
func (c *client) showEndpoint(e *wire.Endpoint, err error) error {
	if err != nil {
		return err
	}
	switch {
	case c.asJSON:
		c.rawJSON()
		return nil
	case c.quiet:
		c.lines(e.ID)
		return nil
	}
	rate := "unlimited"
	if e.RateLimit > 0 {
		rate = fmt.Sprintf("%g/s", e.RateLimit)
	}
	pairs := []string{
		"id", e.ID, "url", e.URL, "description", e.Description, "events", strings.Join(e.Events, ", "),
		"profile", e.Profile, "signing", e.Signing, "kind", e.Kind,
	}
	for i, k := range e.Keys {
		v := "created " + when(k.CreatedAt)
		if !k.ExpiresAt.IsZero() {
			v += ", signs until " + when(k.ExpiresAt)
		}
		if k.PublicKey != "" {
			v += ", " + k.PublicKey
		}
		pairs = append(pairs, fmt.Sprintf("key %d", i+1), v)
	}
	pairs = append(pairs, "headers", joinMap(e.Headers, ": "), "rate limit", rate, "timeout", e.Timeout,
		"metadata", joinMap(e.Metadata, "="), "status", status(e), "url refused", e.URLRefused, "failing since", when(e.FailingSince),
		"created", when(e.CreatedAt), "updated", when(e.UpdatedAt))
	if e.InFlightLimit > 0 {
		pairs = append(pairs, "in-flight limit", fmt.Sprint(e.InFlightLimit))
	}
	pairs = append(pairs, scheduleFields(e)...)
	if e.TracePropagate != nil {
		pairs = append(pairs, "trace propagate", strconv.FormatBool(*e.TracePropagate))
	}
	c.fields(pairs...)
	return nil
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

// endpointFields declares the flags of create and update and returns a function that builds the request from the
// flags given on the command line, and tells whether any was.
func endpointFields(fs *flag.FlagSet, update bool) func() (wire.EndpointRequest, bool, error) {
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
	profile := fs.String("profile", "", "header profile: "+profiles.Names()+" (default on create: "+profiles.Default().Name()+")")
	signing := fs.String("signing", "", "hmac or ed25519 (ed25519: standard profile only; default on create: hmac)")
	secret := fs.String("secret", "", "the key in the profile's form (webhookd keys new makes one); generated when absent")
	fs.Var(&headers, "header", `a custom header sent with every delivery, "Name: value" (repeat for several)`)
	rate := fs.Float64("rate-limit", 0, "deliveries per second at most; 0 is unlimited")
	timeout := fs.String("timeout", "", "time each attempt gets, 100ms to 30s (default on create: 1s)")
	tracePropagate := fs.Bool("trace-propagate", false, "send this endpoint each attempt's W3C traceparent (true) or never (false), whatever the server's --trace-propagate says (default: the server's)")
	fs.Var(&metadata, "metadata", `free-form "key=value" (repeat for several)`)
	retries := fs.Int("retries", 0, "retries after the first attempt, 0 to 10 (default: the server's; -1 on update goes back to it)")
	retryInitial := fs.String("retry-initial", "", `wait after the first failed attempt, doubling each retry, e.g. "2s" (default: the server's)`)
	retryCap := fs.String("retry-cap", "", `longest wait between attempts, e.g. "10m" (default: the server's)`)
	onFailure := fs.String("ordering-on-failure", "", `skip or block: whether an ordering key goes on after a dead delivery of it (default on create: skip)`)
	if update {
		fs.BoolVar(noHeaders, "no-headers", false, "remove every custom header")
		fs.BoolVar(noMetadata, "no-metadata", false, "remove all metadata")
	}
	return func() (wire.EndpointRequest, bool, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		var req wire.EndpointRequest
		if set["endpoint-url"] {
			req.URL = newURL
		}
		if set["events"] {
			ev := splitList(*events)
			req.Events = &ev
		}
		if set["description"] {
			req.Description = desc
		}
		if set["profile"] {
			req.Profile = profile
		}
		if set["signing"] {
			req.Signing = signing
		}
		if set["secret"] {
			req.Secret = secret
		}
		if set["rate-limit"] {
			req.RateLimit = rate
		}
		if set["timeout"] {
			req.Timeout, _ = json.Marshal(*timeout) // the server reads the duration
		}
		if set["trace-propagate"] {
			req.TracePropagate = tracePropagate
		}
		if set["retries"] {
			req.Retries = retries
		}
		if set["retry-initial"] {
			req.RetryInitial, _ = json.Marshal(*retryInitial)
		}
		if set["retry-cap"] {
			req.RetryCap, _ = json.Marshal(*retryCap)
		}
		if set["ordering-on-failure"] {
			req.OrderingOnFailure = onFailure
		}
		if set["header"] || *noHeaders {
			h := map[string]string{}
			for _, kv := range headers {
				k, v, ok := strings.Cut(kv, ":")
				if !ok || strings.TrimSpace(k) == "" {
					return req, false, usagef(`--header %q: want "Name: value"`, kv)
				}
				h[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			req.Headers = &h
		}
		if set["metadata"] || *noMetadata {
			m := map[string]string{}
			for _, kv := range metadata {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return req, false, usagef(`--metadata %q: want "key=value"`, kv)
				}
				m[k] = v
			}
			req.Metadata = &m
		}
		changed := req.URL != nil || req.Events != nil || req.Description != nil || req.Profile != nil ||
			req.Signing != nil || req.Secret != nil || req.RateLimit != nil || req.Timeout != nil ||
			req.Headers != nil || req.Metadata != nil || req.TracePropagate != nil ||
			req.Retries != nil || req.RetryInitial != nil || req.RetryCap != nil ||
			req.OrderingOnFailure != nil
		return req, changed, nil
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
			callsFields := callsFlags(fs, c)
			return func(ctx context.Context, args []string) error {
				req, _, err := fields()
				if err != nil {
					return err
				}
				if err := callsFields(&req); err != nil {
					return err
				}
				req.URL = &args[0]
				return c.showEndpoint(c.api.CreateEndpoint(ctx, c.tenant, req))
			}
		},
	},
	{
		name: "list", summary: "list the tenant's endpoints", nargs: [2]int{0, 0}, tenant: true,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			page := pageFlags(fs)
			return func(ctx context.Context, _ []string) error {
				l, err := c.api.ListEndpoints(ctx, c.tenant, page())
				return listPage(c, l, err,
					func(e wire.Endpoint) string { return e.ID },
					[]string{"ID", "STATUS", "PROFILE", "EVENTS", "URL"},
					func(e wire.Endpoint) []string {
						return []string{e.ID, status(&e), e.Profile + "/" + e.Signing, strings.Join(e.Events, ","), e.URL}
					})
			}
		},
	},
	{
		name: "show", args: "ENDPOINT_ID", summary: "show an endpoint", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				return c.showEndpoint(c.api.GetEndpoint(ctx, c.tenant, args[0]))
			}
		},
	},
	{
		name: "update", args: "ENDPOINT_ID", summary: "change an endpoint: only the flags given change", nargs: [2]int{1, 1}, tenant: true,
		longHelp: `--header and --metadata replace the whole set. --secret is accepted only with a change of --profile
or --signing; to change the key of the same scheme, use rotate.`,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			fields := endpointFields(fs, true)
			return func(ctx context.Context, args []string) error {
				req, changed, err := fields()
				if err != nil {
					return err
				}
				if !changed {
					return usagef("nothing to change: give at least one flag")
				}
				return c.showEndpoint(c.api.UpdateEndpoint(ctx, c.tenant, args[0], req))
			}
		},
	},
	removeVerb("delete", "ENDPOINT_ID", "delete an endpoint", "deleted",
		func(a *apiclient.Client) func(context.Context, string, string) error { return a.DeleteEndpoint }),
	{
		name: "enable", args: "ENDPOINT_ID", summary: "enable an endpoint (its URL is checked again)", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				return c.showEndpoint(c.api.EnableEndpoint(ctx, c.tenant, args[0]))
			}
		},
	},
	{
		name: "disable", args: "ENDPOINT_ID", summary: "disable an endpoint: no new deliveries", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				return c.showEndpoint(c.api.DisableEndpoint(ctx, c.tenant, args[0]))
			}
		},
	},
	{
		name: "rotate", args: "ENDPOINT_ID", summary: "make a new signing key; the old one signs beside it for --grace",
		nargs: [2]int{1, 1}, tenant: true,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			secret := fs.String("secret", "", "the new key in the profile's form (default: generated)")
			grace := fs.String("grace", "", `how long the old key keeps signing, e.g. "1h"; "0s" drops it at once (default: the server's, 24h)`)
			return func(ctx context.Context, args []string) error {
				req := wire.Rotate{Secret: *secret}
				if *grace != "" {
					req.Grace, _ = json.Marshal(*grace) // the server reads the duration
				}
				return c.showEndpoint(c.api.RotateEndpoint(ctx, c.tenant, args[0], req))
			}
		},
	},
	{
		name: "secret", args: "ENDPOINT_ID", summary: "print the keys the receiver must trust, newest first",
		nargs: [2]int{1, 1}, tenant: true,
		longHelp: "HMAC keys are printed with their secret, ed25519 keys with their public key only. With -q, only the\nnewest key: RECEIVER_KEY=$(webhookd endpoints secret -q ID).",
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				s, err := c.api.EndpointSecret(ctx, c.tenant, args[0])
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON()
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
				var req wire.TestEvent
				if *data != "" {
					d, err := c.jsonArg("--data", *data)
					if err != nil {
						return err
					}
					req.Data = d
				}
				res, err := c.api.TestEndpoint(ctx, c.tenant, args[0], req)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON()
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
