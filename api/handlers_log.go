package api

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/wire"
)

// deliveryFilter reads the delivery-log query: status, message, endpoint, since, until (RFC 3339), after, limit.
func deliveryFilter(r *http.Request) (delivery.Filter, error) {
	after, limit, err := page(r)
	if err != nil {
		return delivery.Filter{}, err
	}
	q := r.URL.Query()
	f := delivery.Filter{EndpointID: q.Get("endpoint"), MessageID: q.Get("message"), After: after, Limit: limit}
	for _, p := range []struct{ name, v string }{{"endpoint", f.EndpointID}, {"message", f.MessageID}} {
		if p.v != "" && !ids.Valid(p.v) {
			return f, errParam(p.name, "%s is not a valid id", p.name)
		}
	}
	switch st := delivery.Status(q.Get("status")); st {
	case "", delivery.StatusPending, delivery.StatusSucceeded, delivery.StatusFailed, delivery.StatusDead:
		f.Status = st
	default:
		return f, errParam("status", "status must be pending, succeeded, failed or dead")
	}
	if f.Since, err = queryTime(q.Get("since"), "since"); err != nil {
		return f, err
	}
	if f.Until, err = queryTime(q.Get("until"), "until"); err != nil {
		return f, err
	}
	return f, nil
}

// queryTime parses an optional RFC 3339 query parameter.
func queryTime(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, errParam(name, "%s must be an RFC 3339 time such as 2026-04-15T12:00:00Z", name)
	}
	return t, nil
}

// writeDeliveries answers one page of the delivery log.
func (s *server) writeDeliveries(w http.ResponseWriter, r *http.Request, tenant string, f delivery.Filter) error {
	limit := f.Limit
	f.Limit = limit + 1
	ds, err := s.dlog.ListDeliveries(r.Context(), tenant, f)
	if err != nil {
		return err
	}
	next := ""
	if len(ds) > limit {
		ds = ds[:limit]
		next = ds[limit-1].ID
	}
	out := make([]wire.Delivery, len(ds))
	for i, d := range ds {
		out[i] = viewDelivery(d)
	}
	writeJSON(w, http.StatusOK, newList(out, next))
	return nil
}

func (s *server) listDeliveries(w http.ResponseWriter, r *http.Request, c *call) error {
	f, err := deliveryFilter(r)
	if err != nil {
		return err
	}
	return s.writeDeliveries(w, r, c.tenant, f)
}

func (s *server) getDelivery(w http.ResponseWriter, r *http.Request, c *call) error {
	d, err := s.dlog.GetDelivery(r.Context(), c.tenant, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	as, err := s.dlog.ListAttempts(r.Context(), c.tenant, d.ID)
	if err != nil {
		return err
	}
	out := wire.DeliveryDetail{Delivery: viewDelivery(d), AttemptLog: make([]wire.Attempt, len(as))}
	for i, a := range as {
		out.AttemptLog[i] = viewAttempt(a)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
