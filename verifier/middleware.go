package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Error codes in the JSON body {"code": ..., "message": ...} that Middleware answers with. They are stable: clients
// and tests may match on them.
const (
	CodeMissingHeader       = "missing_header"        // 401
	CodeMalformedHeader     = "malformed_header"      // 401
	CodeTimestampTooOld     = "timestamp_too_old"     // 401
	CodeTimestampTooNew     = "timestamp_too_new"     // 401
	CodeNoMatchingSignature = "no_matching_signature" // 401
	CodeBodyTooLarge        = "body_too_large"        // 413
	CodeBodyUnreadable      = "body_unreadable"       // 400
	CodeMethodNotAllowed    = "method_not_allowed"    // 405
	CodeDedupUnavailable    = "dedup_unavailable"     // 503: the DedupStore failed; the sender should retry
)

// allowed is the Allow header: what a webhook endpoint accepts. Senders' endpoint handshakes (an OPTIONS request
// that must list POST) read it.
const allowed = "POST, OPTIONS"

type resultKey struct{}

// ResultFrom returns the Result that Middleware stored in a verified request's context.
func ResultFrom(ctx context.Context) (Result, bool) {
	r, ok := ctx.Value(resultKey{}).(Result)
	return r, ok
}

// Middleware verifies each request before next sees it:
//
//   - OPTIONS is answered 204 with "Allow: POST, OPTIONS"; other methods than POST get 405.
//   - The body is read up to Config.MaxBodyBytes; a larger one gets 413.
//   - A request that fails Verify gets 401 with a JSON error; next is not called.
//   - A verified message whose id the DedupStore has already seen gets 200 with an empty body; next is not called.
//     The id is recorded only after verification, so forged requests cannot make real messages look like duplicates.
//     If next then answers anything but 2xx (or panics) and the store is a Forgetter, the id is forgotten again so
//     that the sender's retry is handled.
//   - Otherwise next is called with r.Body replaced by the exact bytes received and the Result in the context
//     (ResultFrom).
//
// Errors are JSON objects {"code": ..., "message": ...} with the Code* values.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
		case http.MethodOptions:
			w.Header().Set("Allow", allowed)
			w.WriteHeader(http.StatusNoContent)
			return
		default:
			w.Header().Set("Allow", allowed)
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, r.Method+" is not allowed; webhooks are POSTed")
			return
		}

		if r.ContentLength > v.maxBody {
			writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, bodyTooLarge(v.maxBody))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, v.maxBody))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				writeError(w, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, bodyTooLarge(v.maxBody))
				return
			}
			writeError(w, http.StatusBadRequest, CodeBodyUnreadable, "reading the body: "+err.Error())
			return
		}

		res, err := v.Verify(r.Header, body)
		if err != nil {
			writeError(w, http.StatusUnauthorized, errorCode(err), err.Error())
			return
		}

		forget := func() {}
		if res.MessageID != "" {
			dup, err := v.dedup.Seen(r.Context(), res.MessageID, v.dedupTTL)
			if err != nil {
				writeError(w, http.StatusServiceUnavailable, CodeDedupUnavailable, "duplicate check failed; retry later")
				return
			}
			if dup {
				w.WriteHeader(http.StatusOK)
				return
			}
			if f, ok := v.dedup.(Forgetter); ok {
				// Forgetting must happen even when the client has gone away: that is when the sender retries.
				ctx := context.WithoutCancel(r.Context())
				forget = func() { _ = f.Forget(ctx, res.MessageID) }
			}
		}

		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r = r.WithContext(context.WithValue(r.Context(), resultKey{}, res))
		rec := &statusRecorder{ResponseWriter: w}
		handled := false
		defer func() {
			if !handled || rec.status/100 != 2 {
				forget()
			}
		}()
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK // net/http's answer when the handler writes nothing
		}
		handled = true
	})
}

func bodyTooLarge(limit int64) string {
	return "the body is larger than " + strconv.FormatInt(limit, 10) + " bytes"
}

// errorCode maps a Verify error to its Code* value.
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrMissingHeader):
		return CodeMissingHeader
	case errors.Is(err, ErrMalformedHeader):
		return CodeMalformedHeader
	case errors.Is(err, ErrTimestampTooOld):
		return CodeTimestampTooOld
	case errors.Is(err, ErrTimestampTooNew):
		return CodeTimestampTooNew
	}
	return CodeNoMatchingSignature
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	body, err := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{code, message})
	if err != nil { // cannot happen for two strings
		body = []byte(fmt.Sprintf(`{"code":%q}`, code))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// statusRecorder notes the status the handler answers with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 { // 1xx informational responses are not the answer
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Flush lets handlers that stream use http.Flusher through the recorder.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
