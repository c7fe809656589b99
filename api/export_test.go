package api

import (
	"net/http"

	"github.com/gorilla/mux"
)

// NewWithRouter is New that also returns the router inside the handler, so that external tests can enumerate the
// routes with mux.Router.Walk.
func NewWithRouter(cfg Config, deps Deps) (http.Handler, *mux.Router, error) {
	s, err := newServer(cfg, deps)
	if err != nil {
		return nil, nil, err
	}
	return s.handler(), s.router, nil
}
