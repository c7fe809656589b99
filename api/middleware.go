package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/tenants"
)

// RequestIDHeader carries the request id: taken from the request when it is sane, generated otherwise, and echoed on
// the response.
const RequestIDHeader = "X-Request-Id"

type ctxKey int

const requestIDKey ctxKey = iota

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// validRequestID accepts 1 to 128 of [A-Za-z0-9._:-].
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := range len(s) {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

func (s *server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = ids.New("req")
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// recorder remembers the status and size of a response for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	route  string // the route template that served the request (setRoute); "" when none matched
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// accessLog writes one line per request (at debug level for the probe paths, which are polled): no tokens, no
// bodies, no query strings. It also reports the request to the Observer.
func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recorder{ResponseWriter: w}
		next.ServeHTTP(rw, r)
		latency := time.Since(start)
		s.obs.Request(rw.route, r.Method, max(rw.status, http.StatusOK), latency)
		level := slog.LevelInfo
		if probePath(r.URL.Path) {
			level = slog.LevelDebug
		}
		s.log.LogAttrs(r.Context(), level, "http request",
			slog.String("request_id", requestIDFrom(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int64("status", int64(max(rw.status, http.StatusOK))),
			slog.Int64("bytes", rw.bytes),
			slog.Int64("latency_ms", latency.Milliseconds()),
		)
	})
}

// recoverPanic turns a handler panic into a 500 internal error and logs the stack; nothing of it reaches the client.
func (s *server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", "request_id", requestIDFrom(r.Context()), "method", r.Method,
				"path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if rw, ok := w.(*recorder); ok && rw.status != 0 {
				return // the response has started; nothing more can be said
			}
			writeJSON(w, http.StatusInternalServerError, newError(http.StatusInternalServerError, CodeInternal, "internal error"))
		}()
		next.ServeHTTP(w, r)
	})
}

// principal is who is calling.
type principal struct {
	operator bool
	tenantID string // the tenant of a tenant token
	tokenID  string // the id of a tenant token or console session (its rate-limit key)
	portal   bool   // a console session (portal.go): tenant-scoped, never operator, maybe read-only
	readOnly bool
}

// call is what a handler gets besides the request: the caller and, on tenant-scoped routes, the tenant it may act on.
type call struct {
	who    principal
	tenant string // the {tenant} of the path, checked against who
}

// authenticate reads "Authorization: Bearer <token>". The operator token is compared in constant time (as SHA-256
// digests, so its length does not leak either); tenant tokens are looked up by hash.
func (s *server) authenticate(r *http.Request) (principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return principal{}, errUnauthorized
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], s.opHash[:]) == 1 {
		return principal{operator: true}, nil
	}
	if tenants.IsPortalToken(token) {
		return s.authenticatePortal(r.Context(), token)
	}
	t, err := s.tenants.Authenticate(r.Context(), token)
	switch {
	case errors.Is(err, tenants.ErrToken):
		return principal{}, errUnauthorized
	case err != nil:
		return principal{}, err
	}
	return principal{tenantID: t.TenantID, tokenID: t.ID}, nil
}

// checkVars refuses path variables that cannot name anything (ids are ids.Valid, catalogue names event types) with
// 404, before they reach a store.
func checkVars(vars map[string]string) error {
	for k, v := range vars {
		switch {
		case k == "name":
			if !endpoints.ValidEventType(v) {
				return events.ErrNotFound
			}
		case k == "tenant":
			if !ids.Valid(v) {
				return tenants.ErrNotFound
			}
		case !ids.Valid(v):
			return delivery.ErrNotFound
		}
	}
	return nil
}

// guard authenticates the caller and enforces the route's access rule before running h. On a tenant-scoped route a
// tenant token of another tenant gets 404, exactly like a tenant that does not exist, so tenants cannot detect each
// other; 403 is only for an operator-only action asked by a tenant on its own scope or on a global route.
func (s *server) guard(a access, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, err := s.authenticateThrottled(r) // limits.go
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := who.allows(r.Method); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := s.admit(r.Context(), who); err != nil {
			s.writeError(w, r, err)
			return
		}
		s.bodyDeadline(w, r)
		if err := checkVars(mux.Vars(r)); err != nil {
			s.writeError(w, r, err)
			return
		}
		c := &call{who: who}
		switch a {
		case accessOperator:
			if !who.operator {
				s.writeError(w, r, errForbidden)
				return
			}
		case accessTenant, accessTenantOperator:
			c.tenant = mux.Vars(r)["tenant"]
			if who.operator {
				if err := s.tenants.Exists(r.Context(), c.tenant); err != nil {
					s.writeError(w, r, err)
					return
				}
			} else if who.tenantID != c.tenant {
				s.writeError(w, r, tenants.ErrNotFound)
				return
			}
			if a == accessTenantOperator && !who.operator {
				s.writeError(w, r, errForbidden)
				return
			}
		}
		if err := h(w, r, c); err != nil {
			s.writeError(w, r, err)
		}
	})
}
