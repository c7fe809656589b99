package api

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/tenants"
)

func (s *server) createTenant(w http.ResponseWriter, r *http.Request, _ *call) error {
	var req struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	t, err := s.tenants.Create(r.Context(), tenants.CreateInput{ID: req.ID, Name: req.Name})
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
	out := make([]tenantView, len(ts))
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

func (s *server) createToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name string `json:"name"`
	}
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
	out := make([]tokenView, len(ts))
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

func (s *server) publish(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Type      string          `json:"type"`
		Data      json.RawMessage `json:"data"`
		ID        string          `json:"id"`
		Timestamp *string         `json:"timestamp"`
	}
	if err := decodeBody(w, r, s.cfg.MaxEventBytes, &req, false); err != nil {
		return err
	}
	in := events.PublishInput{Type: req.Type, Data: req.Data, ID: req.ID}
	if req.Timestamp != nil {
		ts, err := parseTime("timestamp", *req.Timestamp)
		if err != nil {
			return err
		}
		in.Timestamp = &ts
	}
	m, fanout, existing, err := s.events.Publish(r.Context(), c.tenant, in)
	if err != nil {
		return err
	}
	s.obs.EventIngested(c.tenant, existing)
	writeJSON(w, http.StatusAccepted, struct {
		ID        string `json:"id"`
		Fanout    int    `json:"fanout"`
		Duplicate bool   `json:"duplicate"`
	}{m.ID, fanout, existing})
	return nil
}

func (s *server) putEventType(w http.ResponseWriter, r *http.Request, _ *call) error {
	var req struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
	}
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, false); err != nil {
		return err
	}
	t, created, err := s.events.PutEventType(r.Context(), events.EventTypeInput{Name: req.Name, Description: req.Description, Schema: req.Schema})
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
	out := make([]eventTypeView, len(ts))
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
