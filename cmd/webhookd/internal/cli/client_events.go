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
			version := fs.Int("schema-version", 0, "the version of the type's schema DATA meets (default: the latest)")
			okey := fs.String("ordering-key", "", "deliver after earlier events with this key, per endpoint, in publish order")
			return func(ctx context.Context, args []string) error {
				if *typ == "" {
					return usagef("--type is required")
				}
				ev := wire.Event{Type: *typ, ID: *id, SchemaVersion: *version, OrderingKey: *okey}
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
					return c.showEventType(c.api.GetEventType(ctx, args[0]))
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
	{
		name: "put-type", args: "NAME", summary: "add an event type to the catalogue or replace it (operator)", nargs: [2]int{1, 1},
		longHelp: `--schema is the JSON Schema (draft 2020-12) the type's data must meet: inline or @file. A schema
different from the type's latest becomes its next version; one that does not compile is refused with the
compiler's error. --schema-mode (enforce, warn or off) overrides the tenant's mode for this type.`,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			desc := fs.String("description", "", "what the event means")
			schema := fs.String("schema", "", "the JSON Schema of the data: inline or @file")
			mode := fs.String("schema-mode", "", "enforce, warn or off for this type (default: the tenant's)")
			return func(ctx context.Context, args []string) error {
				in := wire.PutEventType{Name: args[0], Description: *desc, SchemaMode: *mode}
				if *schema != "" {
					raw, err := c.jsonArg("--schema", *schema)
					if err != nil {
						return err
					}
					in.Schema = raw
				}
				t, _, err := c.api.PutEventType(ctx, in)
				return c.showEventType(t, err)
			}
		},
	},
}

// showEventType prints one catalogue entry, as types NAME and put-type answer it.
func (c *client) showEventType(t *wire.EventType, err error) error {
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
			"schema versions", fmt.Sprint(len(t.Versions)), "schema mode", t.SchemaMode,
			"ordering key path", t.OrderingKeyPath, "created", when(t.CreatedAt), "updated", when(t.UpdatedAt))
	}
	return nil
}
