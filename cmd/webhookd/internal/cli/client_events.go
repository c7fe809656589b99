package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/webhookd/webhookd/wire"
)

func init() {
	register("events", "publish events and read the event-type catalogue over the API", runNoun("events",
		"Publishing is what a producer (an EMM/MDM console) does: it needs the operator token.", eventVerbs))
}

var eventVerbs = []verb{
	{
		name: "publish", args: "[DATA]", summary: "publish an event to a tenant's endpoints", nargs: [2]int{0, 1}, tenant: true,
		longHelp: `DATA is the event's JSON data: given inline, "-" for standard input, or "@file". Without it the data
is {}. The answer comes once the event and its deliveries are on disk.`,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			typ := fs.String("type", "", "the event type, e.g. device.enrolled (required)")
			id := fs.String("id", "", "the producer's id for the event: repeating it within 24h publishes nothing new")
			ts := fs.String("timestamp", "", "when the event happened, RFC 3339 (default: now)")
			okey := fs.String("ordering-key", "", "deliver after earlier events with this key, per endpoint, in publish order")
			return func(ctx context.Context, args []string) error {
				if *typ == "" {
					return usagef("--type is required")
				}
				ev := wire.Event{Type: *typ, ID: *id, OrderingKey: *okey}
				if len(args) == 1 {
					data, err := c.jsonArg("DATA", args[0])
					if err != nil {
						return err
					}
					ev.Data = data
				}
				if *ts != "" {
					ev.Timestamp = ts
				}
				res, err := c.api.Publish(ctx, c.tenant, ev)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON()
				case c.quiet:
					c.lines(res.ID)
				default:
					dup := ""
					if res.Duplicate {
						dup = "yes: this id was published before; nothing new was sent"
					}
					c.fields("message", res.ID, "deliveries", fmt.Sprint(res.Fanout), "duplicate", dup)
				}
				return nil
			}
		},
	},
	{
		name: "types", args: "[NAME]", summary: "list the event-type catalogue, or show one type", nargs: [2]int{0, 1},
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			page := pageFlags(fs)
			return func(ctx context.Context, args []string) error {
				if len(args) == 1 {
					t, err := c.api.GetEventType(ctx, args[0])
					if err != nil {
						return err
					}
					switch {
					case c.asJSON:
						c.rawJSON()
					case c.quiet:
						c.lines(t.Name)
					default:
						c.fields("name", t.Name, "description", t.Description, "schema", strings.TrimSpace(string(t.Schema)),
							"created", when(t.CreatedAt), "updated", when(t.UpdatedAt))
					}
					return nil
				}
				l, err := c.api.ListEventTypes(ctx, page())
				return listPage(c, l, err,
					func(t wire.EventType) string { return t.Name },
					[]string{"NAME", "DESCRIPTION", "SCHEMA", "UPDATED"},
					func(t wire.EventType) []string {
						schema := "-"
						if len(t.Schema) > 0 {
							schema = "yes"
						}
						return []string{t.Name, cmp.Or(t.Description, "-"), schema, when(t.UpdatedAt)}
					})
			}
		},
	},
}
