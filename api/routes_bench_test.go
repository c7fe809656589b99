package api

import (
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

// BenchmarkRouteMatchPublish: the router tries routes in table order, so the hot publish route is matched first.
func BenchmarkRouteMatchPublish(b *testing.B) {
	s := &server{}
	r := s.newRouter()
	req := httptest.NewRequest("POST", "/v1/tenants/acme/events", nil)
	b.ReportAllocs()
	for b.Loop() {
		var m mux.RouteMatch
		if !r.Match(req, &m) {
			b.Fatal("no match")
		}
	}
}
