package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	apiclient "github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/wire"
)

func init() {
	register("deliveries", "read the delivery log and redeliver over the API (list, show, retry, recover, unblock)",
		runNoun("deliveries", "The delivery log: one delivery per message and endpoint, with every HTTP attempt. The operator\ntoken or the tenant's own token may read it and redeliver.", deliveryVerbs))
}

// lastGot is what the last attempt got: its status code, or its error.
func lastGot(d wire.Delivery) string {
	switch {
	case d.LastCode != 0:
		return fmt.Sprint(d.LastCode)
	case d.LastError != "":
		return "error"
	}
	return "-"
}

// showDelivery prints a delivery and, when it has them, its attempts.
func (c *client) showDelivery(d wire.Delivery, attempts []wire.Attempt) {
	switch {
	case c.asJSON:
		c.rawJSON()
		return
	case c.quiet:
		c.lines(d.ID)
		return
	}
	last := ""
	if d.LastCode != 0 {
		last = fmt.Sprint(d.LastCode)
	}
	c.fields("id", d.ID, "status", d.Status, "event type", d.EventType, "message", d.MessageID, "endpoint", d.EndpointID,
		"attempts", fmt.Sprint(d.Attempts), "next attempt", when(d.NextAttemptAt), "last status", last,
		"last error", d.LastError, "created", when(d.CreatedAt), "updated", when(d.UpdatedAt),
		"ordering key", d.OrderingKey, "waiting on", d.WaitingOn, "blocked", blockedNote(d))
	if len(attempts) == 0 {
		return
	}
	fmt.Fprintln(c.stdio.Out)
	rows := [][]string{{"ATTEMPT", "AT", "STATUS", "LATENCY", "OUTCOME", "ERROR / RESPONSE"}}
	for _, a := range attempts {
		code := "-"
		if a.StatusCode != 0 {
			code = fmt.Sprint(a.StatusCode)
		}
		note := a.Error
		if note == "" {
			note = strings.Join(strings.Fields(a.Response), " ")
		}
		if len(note) > 80 {
			note = note[:80] + "…"
		}
		rows = append(rows, []string{fmt.Sprint(a.N), when(a.At), code, fmt.Sprintf("%dms", a.LatencyMS), a.Outcome, cmp.Or(note, "-")})
	}
	c.table(rows)
}

// blockedNote says what a blocked delivery holds and how to release it; "" for any other.
func blockedNote(d wire.Delivery) string {
	if !d.Blocked {
		return ""
	}
	return "yes: the deliveries of its ordering key wait on it (webhookd deliveries unblock " + d.ID + " --retry or --skip)"
}

var deliveryVerbs = []verb{
	{
		name: "list", summary: "list deliveries, newest first", nargs: [2]int{0, 0}, tenant: true,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			page := pageFlags(fs)
			endpoint := fs.String("endpoint", "", "only deliveries to this endpoint")
			message := fs.String("message", "", "only deliveries of this message")
			status := fs.String("status", "", "only deliveries in this status: pending, succeeded, failed or dead")
			since := fs.String("since", "", `only deliveries created since: RFC 3339, or a duration ago ("2h")`)
			until := fs.String("until", "", `only deliveries created before: RFC 3339, or a duration ago`)
			return func(ctx context.Context, _ []string) error {
				f := apiclient.DeliveryFilter{Endpoint: *endpoint, Message: *message, Status: *status, Page: page()}
				now := time.Now()
				var err error
				if f.Since, err = timeArg("since", *since, now); err != nil {
					return err
				}
				if f.Until, err = timeArg("until", *until, now); err != nil {
					return err
				}
				l, err := c.api.ListDeliveries(ctx, c.tenant, f)
				return listPage(c, l, err,
					func(d wire.Delivery) string { return d.ID },
					[]string{"ID", "STATUS", "ATTEMPTS", "LAST", "EVENT TYPE", "ENDPOINT", "MESSAGE", "CREATED"},
					func(d wire.Delivery) []string {
						return []string{d.ID, d.Status, fmt.Sprint(d.Attempts), lastGot(d), d.EventType,
							d.EndpointID, d.MessageID, when(d.CreatedAt)}
					})
			}
		},
	},
	{
		name: "show", args: "DELIVERY_ID", summary: "show a delivery and every attempt", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				d, err := c.api.GetDelivery(ctx, c.tenant, args[0])
				if err != nil {
					return err
				}
				c.showDelivery(d.Delivery, d.AttemptLog)
				return nil
			}
		},
	},
	{
		name: "retry", args: "DELIVERY_ID | MESSAGE_ID --endpoint ENDPOINT_ID", nargs: [2]int{1, 1}, tenant: true,
		summary: "deliver a message again (same webhook-id), as a new delivery",
		longHelp: `Given a delivery (dlv_…), its message goes again to its endpoint, or to --endpoint. Given a message
(msg_…), --endpoint is required. Any endpoint of the tenant may be named, whatever its filters.`,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			endpoint := fs.String("endpoint", "", "the endpoint to deliver to")
			return func(ctx context.Context, args []string) error {
				msg, ep := args[0], *endpoint
				if !strings.HasPrefix(msg, "msg_") {
					d, err := c.api.GetDelivery(ctx, c.tenant, args[0])
					if err != nil {
						return err
					}
					msg, ep = d.MessageID, cmp.Or(ep, d.EndpointID)
				}
				if ep == "" {
					return usagef("--endpoint is required with a message id")
				}
				d, err := c.api.ReplayMessage(ctx, c.tenant, msg, ep)
				if err != nil {
					return err
				}
				c.showDelivery(*d, nil)
				return nil
			}
		},
	},
	{
		name: "unblock", args: "DELIVERY_ID --retry | --skip", nargs: [2]int{1, 1}, tenant: true,
		summary: "release an ordering key held behind a failed or dead delivery (ordering_on_failure block)",
		longHelp: `On an endpoint whose ordering_on_failure is block, a failed or dead delivery with an ordering key holds
its key: the deliveries behind it wait ("blocked" in deliveries show). --retry sends that delivery again, first
of its key, with a fresh retry schedule; --skip leaves it as it ended and lets the next delivery of its key go.`,
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			retry := fs.Bool("retry", false, "send the blocked delivery again, before the rest of its key")
			skip := fs.Bool("skip", false, "leave the blocked delivery as it ended and let the next one go")
			return func(ctx context.Context, args []string) error {
				if *retry == *skip {
					return usagef("give one of --retry and --skip")
				}
				action := wire.UnblockSkip
				if *retry {
					action = wire.UnblockRetry
				}
				d, err := c.api.UnblockDelivery(ctx, c.tenant, args[0], action)
				if err != nil {
					return err
				}
				c.showDelivery(*d, nil)
				return nil
			}
		},
	},
	{
		name: "recover", args: "ENDPOINT_ID", nargs: [2]int{1, 1}, tenant: true,
		summary: "deliver again every message whose delivery to an endpoint failed or died since --since",
		setup: func(fs *flag.FlagSet, c *client) func(context.Context, []string) error {
			since := fs.String("since", "", `deliveries created since: RFC 3339, or a duration ago ("24h") (required)`)
			return func(ctx context.Context, args []string) error {
				if *since == "" {
					return usagef("--since is required")
				}
				s, err := timeArg("since", *since, time.Now())
				if err != nil {
					return err
				}
				res, err := c.api.RecoverEndpoint(ctx, c.tenant, args[0], s)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON()
				case c.quiet:
					c.lines(fmt.Sprint(res.Replayed))
				default:
					c.lines(fmt.Sprintf("redelivering %d message(s) to %s", res.Replayed, args[0]))
				}
				return nil
			}
		},
	},
}
