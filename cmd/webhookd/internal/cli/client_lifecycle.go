package cli

import (
	"context"
	"flag"
)

func init() {
	register("messages", "show a message or expunge its payload over the API (show, expunge)",
		runNoun("messages", "Messages: one per published event, with its payload (data) and its deliveries. The operator token or\nthe tenant's own token may read one and expunge its payload.", messageVerbs))
}

var messageVerbs = []verb{
	{
		name: "show", args: "MESSAGE_ID", summary: "show a message and its payload", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				m, err := c.api.GetMessage(ctx, c.tenant, args[0])
				if err != nil {
					return err
				}
				c.showMessage(m.ID, m.Type, when(m.CreatedAt), when(m.ExpungedAt), string(m.Data))
				return nil
			}
		},
	},
	{
		name: "expunge", args: "MESSAGE_ID", nargs: [2]int{1, 1}, tenant: true,
		summary: "drop a message's payload for good; the log keeps its id, times and deliveries",
		longHelp: `The payload (data) is gone for good: the message reads "data": null, replays of it are refused,
and a pending delivery of it ends failed at its next attempt instead of sending.`,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				m, err := c.api.ExpungeMessage(ctx, c.tenant, args[0])
				if err != nil {
					return err
				}
				c.showMessage(m.ID, m.Type, when(m.CreatedAt), when(m.ExpungedAt), "null")
				return nil
			}
		},
	},
}

// showMessage prints a message: the API's JSON (--json), its id (-q), or its fields.
func (c *client) showMessage(id, typ, created, expunged, data string) {
	switch {
	case c.asJSON:
		c.rawJSON()
	case c.quiet:
		c.lines(id)
	default:
		c.fields("id", id, "type", typ, "created", created, "expunged", expunged, "data", data)
	}
}
