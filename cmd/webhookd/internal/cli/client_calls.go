package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/webhookd/webhookd/wire"
)

func init() {
	register("calls", "make management calls to a tenant's calls endpoint and read their log (send, list)",
		runNoun("calls", "Management calls: signed, synchronous requests to a tenant's calls endpoint (an endpoint created\nwith --kind calls), whose answers come back with one outcome: ok, typed_error, timeout, unreachable,\nbad_response or circuit_open. See docs/management-calls.md.", callVerbs))
}

// callsFlags are the calls-endpoint flags of endpoints create: --kind, --error-tag, --schema.
func callsFlags(fs *flag.FlagSet, c *client) func(*wire.EndpointRequest) error {
	kind := fs.String("kind", "", `events (the default) or calls: a management backend that answers calls and receives no events`)
	var tags, schemas listFlag
	fs.Var(&tags, "error-tag", `calls endpoints: a typed error tag the backend may answer (repeat for several; default
ManagementNotSupported, UnknownDevice, ServerInitiatedUnenrollment, InternalServerError)`)
	fs.Var(&schemas, "schema", `calls endpoints: "PATH=SCHEMA", the JSON Schema a successful answer on PATH must meet (inline,
or @file; repeat for several paths)`)
	return func(req *wire.EndpointRequest) error {
		if *kind != "" {
			req.Kind = kind
		}
		if len(tags) == 0 && len(schemas) == 0 {
			return nil
		}
		cs := &wire.CallSettings{ErrorTags: tags}
		for _, s := range schemas {
			p, schema, ok := strings.Cut(s, "=")
			if !ok {
				return usagef("--schema %q: want PATH=SCHEMA", s)
			}
			raw, err := c.jsonArg("--schema "+p, schema)
			if err != nil {
				return err
			}
			if cs.Schemas == nil {
				cs.Schemas = map[string]json.RawMessage{}
			}
			cs.Schemas[p] = raw
		}
		req.Calls = cs
		return nil
	}
}

var callVerbs = []verb{
	{
		name: "send", args: "BODY", nargs: [2]int{1, 1}, tenant: true,
		summary: "make one call and print its outcome and the backend's answer",
		longHelp: `BODY is the JSON sent to the backend, byte for byte: inline, "-" for standard input, or "@file".
The answer's outcome is printed, not turned into an exit status: a call that was made exits 0 whatever the
backend answered; one that could not be made (an unknown or events endpoint, bad input) prints the API's error and
exits 1. -q prints the backend's answer alone.`,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			endpoint := fs.String("endpoint", "", "the calls endpoint (required)")
			path := fs.String("path", "", `the path appended to the endpoint's URL, e.g. /webhook/apple/checkin (required)`)
			timeout := fs.Duration("timeout", 0, "the call's budget, up to 30s (default the endpoint's timeout)")
			idem := fs.Bool("idempotent", false, "allow one retry when the connection failed before the request was sent")
			return func(ctx context.Context, args []string) error {
				if *endpoint == "" || *path == "" {
					return usagef("--endpoint and --path are required")
				}
				body, err := c.jsonArg("BODY", args[0])
				if err != nil {
					return err
				}
				in := wire.CallRequest{EndpointID: *endpoint, Path: *path, Body: body, Idempotent: *idem}
				if *timeout > 0 {
					in.Timeout = wire.Duration(*timeout)
				}
				res, err := c.api.Call(ctx, c.tenant, in)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON()
				case c.quiet:
					if len(res.Body) > 0 {
						c.lines(string(res.Body))
					}
				default:
					status := "-"
					if res.Status != 0 {
						status = fmt.Sprint(res.Status)
					}
					c.fields("id", res.ID, "outcome", res.Outcome, "status", status, "tag", res.Tag, "error", res.Error,
						"latency", fmt.Sprintf("%.3fms", res.LatencyMS), "webhook-id", res.WebhookID,
						"attempts", fmt.Sprint(res.Attempts), "body", string(res.Body))
				}
				return nil
			}
		},
	},
	{
		name: "list", args: "ENDPOINT_ID", summary: "list a calls endpoint's call log, oldest first", nargs: [2]int{1, 1}, tenant: true,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			page := pageFlags(fs)
			return func(ctx context.Context, args []string) error {
				l, err := c.api.ListCalls(ctx, c.tenant, args[0], page())
				return listPage(c, l, err,
					func(x wire.Call) string { return x.ID },
					[]string{"ID", "OUTCOME", "STATUS", "LATENCY", "PATH", "TAG / ERROR", "CREATED"},
					func(x wire.Call) []string {
						note := x.Tag
						if note == "" {
							note = x.Error
						}
						if len(note) > 60 {
							note = note[:60] + "…"
						}
						if note == "" {
							note = "-"
						}
						return []string{x.ID, x.Outcome, fmt.Sprint(x.Status), (time.Duration(x.LatencyMS * float64(time.Millisecond))).String(),
							x.Path, note, when(x.CreatedAt)}
					})
			}
		},
	},
}
