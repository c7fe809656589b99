package cli

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"time"
)

func init() {
	register("deliveries", "read the delivery log and redeliver over the API (list, show, retry, recover)",
		runNoun("deliveries", "The delivery log: one delivery per message and endpoint, with every HTTP attempt. The operator\ntoken or the tenant's own token may read it and redeliver.", deliveryVerbs))
}

type deliveryJSON struct {
	ID            string        `json:"id"`
	MessageID     string        `json:"message_id"`
	EndpointID    string        `json:"endpoint_id"`
	EventType     string        `json:"event_type"`
	Status        string        `json:"status"`
	Attempts      int           `json:"attempts"`
	NextAttemptAt string        `json:"next_attempt_at"`
	LastCode      int           `json:"last_status_code"`
	LastError     string        `json:"last_error"`
	CreatedAt     string        `json:"created_at"`
	UpdatedAt     string        `json:"updated_at"`
	AttemptLog    []attemptJSON `json:"attempt_log"`
}

type attemptJSON struct {
	N          int    `json:"attempt"`
	At         string `json:"at"`
	StatusCode int    `json:"status_code"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error"`
	Response   string `json:"response"`
	Outcome    string `json:"outcome"`
}

// last is what the last attempt got: its status code, or its error.
func (d deliveryJSON) last() string {
	switch {
	case d.LastCode != 0:
		return fmt.Sprint(d.LastCode)
	case d.LastError != "":
		return "error"
	}
	return "-"
}

func (c *client) showDelivery(raw []byte, d deliveryJSON) {
	switch {
	case c.asJSON:
		c.rawJSON(raw)
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
		"last error", d.LastError, "created", when(d.CreatedAt), "updated", when(d.UpdatedAt))
	if len(d.AttemptLog) == 0 {
		return
	}
	fmt.Fprintln(c.stdio.Out)
	rows := [][]string{{"ATTEMPT", "AT", "STATUS", "LATENCY", "OUTCOME", "ERROR / RESPONSE"}}
	for _, a := range d.AttemptLog {
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
				q := page()
				for k, v := range map[string]string{"endpoint": *endpoint, "message": *message, "status": *status} {
					if v != "" {
						q.Set(k, v)
					}
				}
				now := time.Now()
				for _, t := range []struct{ name, v string }{{"since", *since}, {"until", *until}} {
					v, err := timeArg(t.name, t.v, now)
					if err != nil {
						return err
					}
					if v != "" {
						q.Set(t.name, v)
					}
				}
				return listPage(ctx, c, c.tenantPath("deliveries"), q,
					func(d deliveryJSON) string { return d.ID },
					[]string{"ID", "STATUS", "ATTEMPTS", "LAST", "EVENT TYPE", "ENDPOINT", "MESSAGE", "CREATED"},
					func(d deliveryJSON) []string {
						return []string{d.ID, d.Status, fmt.Sprint(d.Attempts), d.last(), d.EventType,
							d.EndpointID, d.MessageID, when(d.CreatedAt)}
					})
			}
		},
	},
	{
		name: "show", args: "DELIVERY_ID", summary: "show a delivery and every attempt", nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				var d deliveryJSON
				raw, err := c.get(ctx, http.MethodGet, c.tenantPath("deliveries", args[0]), nil, nil, &d)
				if err != nil {
					return err
				}
				c.showDelivery(raw, d)
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
					var d deliveryJSON
					if _, err := c.get(ctx, http.MethodGet, c.tenantPath("deliveries", args[0]), nil, nil, &d); err != nil {
						return err
					}
					msg, ep = d.MessageID, cmp.Or(ep, d.EndpointID)
				}
				if ep == "" {
					return usagef("--endpoint is required with a message id")
				}
				var d deliveryJSON
				raw, err := c.get(ctx, http.MethodPost, c.tenantPath("messages", msg, "replay"), nil,
					map[string]string{"endpoint_id": ep}, &d)
				if err != nil {
					return err
				}
				c.showDelivery(raw, d)
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
				var res struct {
					Replayed int `json:"replayed"`
				}
				raw, err := c.get(ctx, http.MethodPost, c.tenantPath("endpoints", args[0], "recover"), nil,
					map[string]string{"since": s}, &res)
				if err != nil {
					return err
				}
				switch {
				case c.asJSON:
					c.rawJSON(raw)
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
