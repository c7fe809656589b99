package api

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/wire"
)

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (s *server) createEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	// Pointers tell absent (or null) from given: on PATCH, absent means unchanged.
	var req wire.EndpointRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	timeout, err := parseDuration("timeout", req.Timeout)
	if err != nil {
		return err
	}
	sched, err := parseSchedule(req)
	if err != nil {
		return err
	}
	in := endpoints.CreateInput{
		URL:         deref(req.URL),
		Description: deref(req.Description),
		Events:      deref(req.Events),
		Profile:     deref(req.Profile),
		Signing:     deref(req.Signing),
		Secret:      deref(req.Secret),
		Headers:     deref(req.Headers),
		RateLimit:   deref(req.RateLimit),
		Timeout:     deref(timeout),
		Metadata:    deref(req.Metadata),

		TracePropagate: req.TracePropagate,
		Kind:           deref(req.Kind),
		Calls:          callSettings(req.Calls),

		Retries:      req.Retries,
		RetryInitial: deref(sched.initial),
		RetryCap:     deref(sched.cap),

		OrderingOnFailure: deref(req.OrderingOnFailure),
	}
	if req.Events != nil && *req.Events == nil {
		in.Events = []string{} // "events": [] is an error, not the default
	}
	if err := s.checkEndpointCap(r.Context(), c.tenant); err != nil {
		return err
	}
	var e *endpoints.Endpoint
	if err := s.handshake(r.Context(), c, func() (err error) {
		e, err = s.endpoints.Create(r.Context(), c.tenant, in)
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewEndpoint(e, now()))
	return nil
}

func (s *server) listEndpoints(w http.ResponseWriter, r *http.Request, c *call) error {
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	es, next, err := s.endpoints.List(r.Context(), c.tenant, after, limit)
	if err != nil {
		return err
	}
	t := now()
	out := make([]wire.Endpoint, len(es))
	for i, e := range es {
		out[i] = viewEndpoint(e, t)
	}
	writeJSON(w, http.StatusOK, newList(out, next))
	return nil
}

func (s *server) getEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	e, err := s.endpoints.Get(r.Context(), c.tenant, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	v := viewEndpoint(e, now())
	if s.epLimits != nil && e.Kind != endpoints.KindCalls {
		v.InFlightLimit = s.epLimits.EndpointLimit(e.TenantID, e.ID)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *server) updateEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.EndpointRequest
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	timeout, err := parseDuration("timeout", req.Timeout)
	if err != nil {
		return err
	}
	if req.Kind != nil {
		return errValidation("kind", "kind: set at creation; it cannot change")
	}
	sched, err := parseSchedule(req)
	if err != nil {
		return err
	}
	update := func() (*endpoints.Endpoint, error) {
		return s.endpoints.Update(r.Context(), c.tenant, mux.Vars(r)["id"], endpoints.UpdateInput{
			URL:         req.URL,
			Description: req.Description,
			Events:      req.Events,
			Profile:     req.Profile,
			Signing:     req.Signing,
			Secret:      req.Secret,
			Headers:     req.Headers,
			RateLimit:   req.RateLimit,
			Timeout:     timeout,
			Metadata:    req.Metadata,

			TracePropagate: req.TracePropagate,
			Calls:          callSettings(req.Calls),

			Retries:      req.Retries,
			RetryInitial: sched.initial,
			RetryCap:     sched.cap,

			OrderingOnFailure: req.OrderingOnFailure,
		})
	}
	var e *endpoints.Endpoint
	if req.URL == nil {
		e, err = update() // no URL check
	} else {
		err = s.handshake(r.Context(), c, func() (err error) { e, err = update(); return err })
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewEndpoint(e, now()))
	return nil
}

func (s *server) deleteEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.endpoints.Delete(r.Context(), c.tenant, mux.Vars(r)["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) enableEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &struct{}{}, true); err != nil {
		return err
	}
	var e *endpoints.Endpoint
	if err := s.handshake(r.Context(), c, func() (err error) {
		e, err = s.endpoints.Enable(r.Context(), c.tenant, mux.Vars(r)["id"])
		return err
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewEndpoint(e, now()))
	return nil
}

func (s *server) disableEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &struct{}{}, true); err != nil {
		return err
	}
	e, err := s.endpoints.Disable(r.Context(), c.tenant, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewEndpoint(e, now()))
	return nil
}

func (s *server) rotateEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.Rotate
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, true); err != nil {
		return err
	}
	grace, err := parseDuration("grace", req.Grace)
	if err != nil {
		return err
	}
	e, err := s.endpoints.Rotate(r.Context(), c.tenant, mux.Vars(r)["id"], endpoints.RotateInput{Secret: req.Secret, Grace: grace})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewEndpoint(e, now()))
	return nil
}

func (s *server) testEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.TestEvent
	if err := decodeBody(w, r, s.cfg.MaxEventBytes, &req, true); err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	data := req.Data
	if len(data) == 0 {
		data, _ = json.Marshal(map[string]string{"endpoint_id": id, "message": "webhookd test event"})
	}
	m, d, err := s.events.PublishTo(r.Context(), c.tenant, id, events.PublishInput{Type: events.TestEventType, Data: data})
	if err != nil {
		return err
	}
	out := wire.TestSent{MessageID: m.ID}
	if d != nil {
		out.DeliveryID = d.ID
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
}

func (s *server) revealSecret(w http.ResponseWriter, r *http.Request, c *call) error {
	id := mux.Vars(r)["id"]
	e, err := s.endpoints.Get(r.Context(), c.tenant, id)
	if err != nil {
		return err
	}
	keys, err := s.endpoints.Reveal(r.Context(), c.tenant, id)
	if err != nil {
		return err
	}
	out := wire.Secret{EndpointID: e.ID, Profile: e.Profile, Signing: e.Algorithm, Keys: make([]wire.SecretKey, len(keys))}
	for i, k := range keys {
		out.Keys[i] = wire.SecretKey{Secret: k.Secret, PublicKey: k.Public, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) listEndpointDeliveries(w http.ResponseWriter, r *http.Request, c *call) error {
	id := mux.Vars(r)["id"]
	if _, err := s.endpoints.Get(r.Context(), c.tenant, id); err != nil {
		return err
	}
	f, err := deliveryFilter(r)
	if err != nil {
		return err
	}
	f.EndpointID = id
	return s.writeDeliveries(w, r, c.tenant, f)
}

func (s *server) recoverEndpoint(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.Recover
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	if req.Since == nil {
		return errValidation("since", "since: is required (an RFC 3339 time)")
	}
	since, err := parseTime("since", *req.Since)
	if err != nil {
		return err
	}
	n, err := s.events.Recover(r.Context(), c.tenant, mux.Vars(r)["id"], since)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, wire.Recovered{Replayed: n})
	return nil
}

func (s *server) getMessage(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := s.dlog.GetMessage(r.Context(), c.tenant, mux.Vars(r)["msg"])
	if err != nil {
		return err
	}
	out := viewMessage(m)
	const maxShown = 1000
	f := delivery.Filter{MessageID: m.ID, Limit: maxLimit}
	for len(out.Deliveries) < maxShown {
		ds, err := s.dlog.ListDeliveries(r.Context(), c.tenant, f)
		if err != nil {
			return err
		}
		for _, d := range ds {
			out.Deliveries = append(out.Deliveries, viewDelivery(d))
		}
		if len(ds) < f.Limit {
			break
		}
		f.After = ds[len(ds)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) unblockDelivery(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.Unblock
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	if req.Action != wire.UnblockRetry && req.Action != wire.UnblockSkip {
		return errValidation("action", "action: must be %q or %q", wire.UnblockRetry, wire.UnblockSkip)
	}
	d, err := s.events.Unblock(r.Context(), c.tenant, mux.Vars(r)["id"], req.Action == wire.UnblockRetry)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewDelivery(d))
	return nil
}

func (s *server) replayMessage(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.Replay
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	if req.EndpointID == "" {
		return errValidation("endpoint_id", "endpoint_id: is required")
	}
	d, err := s.events.Replay(r.Context(), c.tenant, mux.Vars(r)["msg"], req.EndpointID)
	if err != nil {
		return err
	}
	if d.OrderingKey != "" {
		// The answer shows what the delivery waits on, as a read of it would: queued now, it may be behind others.
		if got, err := s.dlog.GetDelivery(r.Context(), c.tenant, d.ID); err == nil {
			d = got
		}
	}
	writeJSON(w, http.StatusAccepted, viewDelivery(d))
	return nil
}
