package api

import (
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/tenants"
	"github.com/webhookd/webhookd/wire"
)

func (s *server) createTenant(w http.ResponseWriter, r *http.Request, _ *call) error {
	var req wire.CreateTenant
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	keep, err := parseDuration("retention", req.Retention)
	if err != nil {
		return err
	}
	in := tenants.CreateInput{ID: req.ID, Name: req.Name}
	if keep != nil {
		in.Retention = *keep
	}
	t, err := s.tenants.Create(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewTenant(t))
	return nil
}

func (s *server) listTenants(w http.ResponseWriter, r *http.Request, _ *call) error {
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	ts, next, err := s.tenants.List(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := make([]wire.Tenant, len(ts))
	for i, t := range ts {
		out[i] = viewTenant(t)
	}
	writeJSON(w, http.StatusOK, newList(out, next))
	return nil
}

func (s *server) getTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.tenants.Get(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewTenant(t))
	return nil
}

func (s *server) updateTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.UpdateTenant
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	keep, err := parseDuration("retention", req.Retention)
	if err != nil {
		return err
	}
	if keep == nil {
		return errValidation("retention", "retention is required: a duration such as \"720h\", or \"0s\" for the default")
	}
	t, err := s.tenants.SetRetention(r.Context(), c.tenant, *keep)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewTenant(t))
	return nil
}

func (s *server) deleteTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	t, err := s.tenants.Delete(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, viewTenant(t))
	return nil
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.CreateToken
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, true); err != nil {
		return err
	}
	t, text, err := s.tenants.IssueToken(r.Context(), c.tenant, req.Name)
	if err != nil {
		return err
	}
	v := viewToken(t)
	v.Token = text
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	ts, err := s.tenants.ListTokens(r.Context(), c.tenant)
	if err != nil {
		return err
	}
	out := make([]wire.Token, len(ts))
	for i, t := range ts {
		out[i] = viewToken(t)
	}
	writeJSON(w, http.StatusOK, newList(out, ""))
	return nil
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.tenants.RevokeToken(r.Context(), c.tenant, mux.Vars(r)["token"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// eventInput converts one event as POST .../events takes it, or an element of POST .../events/batch; prefix comes
// before field names in errors ("" or "events[3].").
func eventInput(b *wire.Event, prefix string) (events.PublishInput, error) {
	in := events.PublishInput{Type: b.Type, Data: b.Data, ID: b.ID, SchemaVersion: b.SchemaVersion, OrderingKey: b.OrderingKey}
	if b.Timestamp != nil {
		ts, err := parseTime(prefix+"timestamp", *b.Timestamp)
		if err != nil {
			return events.PublishInput{}, err
		}
		in.Timestamp = &ts
	}
	return in, nil
}

func (s *server) publish(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.Event
	if err := decodeBody(w, r, s.cfg.MaxEventBytes, &req, false); err != nil {
		return err
	}
	in, err := eventInput(&req, "")
	if err != nil {
		return err
	}
	m, fanout, existing, err := s.events.Publish(r.Context(), c.tenant, in)
	if err != nil {
		return err
	}
	s.obs.EventIngested(c.tenant, existing)
	writePublished(w, wire.Published{ID: m.ID, Fanout: fanout, Duplicate: existing})
	return nil
}

func (s *server) publishBatch(w http.ResponseWriter, r *http.Request, c *call) error {
	var req wire.Batch
	if err := decodeBody(w, r, s.cfg.MaxBatchBytes, &req, false); err != nil {
		return err
	}
	ins := make([]events.PublishInput, len(req.Events))
	for i := range req.Events {
		in, err := eventInput(&req.Events[i], fmt.Sprintf("events[%d].", i))
		if err != nil {
			return err
		}
		ins[i] = in
	}
	res, err := s.events.PublishBatch(r.Context(), c.tenant, ins)
	if err != nil {
		return err
	}
	out := make([]wire.Published, len(res))
	for i, b := range res {
		s.obs.EventIngested(c.tenant, b.Existing)
		out[i] = wire.Published{ID: b.Message.ID, Fanout: b.Fanout, Duplicate: b.Existing}
	}
	writeJSON(w, http.StatusAccepted, newList(out, ""))
	return nil
}

func (s *server) putEventType(w http.ResponseWriter, r *http.Request, _ *call) error {
	var req wire.PutEventType
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	t, created, err := s.events.PutEventType(r.Context(), events.EventTypeInput{Name: req.Name, Description: req.Description, Schema: req.Schema,
		SchemaMode: events.SchemaMode(req.SchemaMode), OrderingKeyPath: req.OrderingKeyPath})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, viewEventType(t))
	return nil
}

func (s *server) listEventTypes(w http.ResponseWriter, r *http.Request, _ *call) error {
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	ts, next, err := s.events.ListEventTypes(r.Context(), after, limit)
	if err != nil {
		return err
	}
	out := make([]wire.EventType, len(ts))
	for i, t := range ts {
		out[i] = viewEventType(t)
	}
	writeJSON(w, http.StatusOK, newList(out, next))
	return nil
}

func (s *server) getEventType(w http.ResponseWriter, r *http.Request, _ *call) error {
	t, err := s.events.GetEventType(r.Context(), mux.Vars(r)["name"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewEventType(t))
	return nil
}

func (s *server) deleteEventType(w http.ResponseWriter, r *http.Request, _ *call) error {
	if err := s.events.DeleteEventType(r.Context(), mux.Vars(r)["name"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
