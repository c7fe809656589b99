package gateway

import (
	"net/http"
	"strings"

	"github.com/webhookd/webhookd/console"
)

// withConsole serves the tenant console at console.Path beside the API on one handler.
func withConsole(apiHandler http.Handler, cfg console.Config) (http.Handler, error) {
	c, err := console.New(cfg)
	if err != nil {
		return nil, err
	}
	root := strings.TrimSuffix(console.Path, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == root || strings.HasPrefix(p, console.Path) {
			c.ServeHTTP(w, r)
			return
		}
		apiHandler.ServeHTTP(w, r)
	}), nil
}
