package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/tenants"
	"github.com/webhookd/webhookd/wire"
)

// ConsolePath is where the tenant console is served on the API listener (package console); a portal session's URL
// points there unless Config.ConsoleURL says otherwise.
const ConsolePath = "/console/"

var (
	errSessionExpired = newError(http.StatusUnauthorized, wire.CodeSessionExpired,
		"this console session has expired: open the console again from where you came")
	errSessionRevoked = newError(http.StatusUnauthorized, wire.CodeSessionRevoked,
		"this console session was revoked: open the console again from where you came")
	errReadOnly      = newError(http.StatusForbidden, CodeForbidden, "this console session is read-only")
	errPortalRefused = newError(http.StatusForbidden, CodeForbidden, "a console session cannot do this: use a tenant or the operator token")
)

// authenticatePortal authenticates a portal token (tenants.PortalTokenPrefix): a tenant principal marked portal, and
// read-only when the session is. Expired and revoked sessions get their own 401 codes, so the console can say which.
func (s *server) authenticatePortal(ctx context.Context, token string) (principal, error) {
	p, err := s.tenants.AuthenticatePortal(ctx, token)
	switch {
	case errors.Is(err, tenants.ErrSessionExpired):
		return principal{}, errSessionExpired
	case errors.Is(err, tenants.ErrSessionRevoked):
		return principal{}, errSessionRevoked
	case errors.Is(err, tenants.ErrToken):
		return principal{}, errUnauthorized
	case err != nil:
		return principal{}, err
	}
	return principal{tenantID: p.TenantID, tokenID: p.ID, portal: true, readOnly: p.ReadOnly}, nil
}

// allows refuses a read-only principal every method but GET (and HEAD).
func (p principal) allows(method string) error {
	if p.readOnly && method != http.MethodGet && method != http.MethodHead {
		return errReadOnly
	}
	return nil
}

func viewPortalSession(p *tenants.PortalSession) wire.PortalSession {
	return wire.PortalSession{ID: p.ID, TenantID: p.TenantID, ReadOnly: p.ReadOnly, CreatedAt: p.CreatedAt,
		ExpiresAt: p.ExpiresAt}
}

// consoleURL is the console's address for a session: Config.ConsoleURL, else the console on the host the request
// came to, with the tenant, the token and a read-only mark in the fragment (never sent to a server, so never in an
// access log): #ro=1&tenant=acme&token=whp_….
func (s *server) consoleURL(r *http.Request, p *tenants.PortalSession, token string) string {
	base := s.cfg.ConsoleURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = (&url.URL{Scheme: scheme, Host: r.Host, Path: ConsolePath}).String()
	}
	base, _, _ = strings.Cut(base, "#")
	frag := url.Values{"tenant": {p.TenantID}, "token": {token}}
	if p.ReadOnly {
		frag.Set("ro", "1")
	}
	return base + "#" + frag.Encode()
}

func (s *server) createPortalSession(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.who.portal {
		return errPortalRefused
	}
	var req wire.CreatePortalSession
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &req, true); err != nil {
		return err
	}
	ttl, err := parseDuration("ttl", req.TTL)
	if err != nil {
		return err
	}
	in := tenants.PortalInput{ReadOnly: req.ReadOnly}
	if ttl != nil {
		if *ttl == 0 {
			return errValidation("ttl", "ttl: must be more than 0")
		}
		in.TTL = *ttl
	}
	p, text, err := s.tenants.OpenPortal(r.Context(), c.tenant, in)
	if err != nil {
		return err
	}
	v := viewPortalSession(p)
	v.Token = text
	v.URL = s.consoleURL(r, p, text)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (s *server) revokePortalSession(w http.ResponseWriter, r *http.Request, c *call) error {
	if c.who.portal {
		return errPortalRefused
	}
	if err := s.tenants.RevokePortal(r.Context(), c.tenant, mux.Vars(r)["session"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
