package api_test

// These tests hold docs/openapi.yaml to the code: the router and the spec list the same routes, every error code of
// errors.go is documented, every example is valid against its schema, and a real API (bolt store, delivery engine,
// an httptest receiver) answers each documented request example with a status the spec lists and a body its schema
// accepts.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/webhookd/webhookd/api"
	"github.com/webhookd/webhookd/calls"
	"github.com/webhookd/webhookd/delivery"
	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/metrics"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
	"github.com/webhookd/webhookd/tenants"
)

const (
	specFile = "../docs/openapi.yaml"
	specURL  = "file:///openapi.json"
	opToken  = "operator-token-for-openapi-tests-0123"
)

// Values the spec's examples use that the live tests replace with what the running API made.
const (
	exampleHost       = "https://hooks.example.com"
	exampleEndpointID = "ep_01kp8w9r5h3n6q2s7t4v8x0y1z"
	// exampleCallsID is the calls endpoint of the management-call examples.
	exampleCallsID = "ep_01kp8w9r5h3n6q2s7t4v8xcall"
)

// opsPaths are the operations routes, which need no token.
var opsPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "options", "head", "trace"}

// spec is docs/openapi.yaml, parsed, with a JSON Schema compiler over the whole document.
type spec struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	schemas  map[string]*jsonschema.Schema
}

// operation is one path and method of the spec.
type operation struct {
	method string // upper case
	path   string
	ptr    string // JSON pointer to the operation object
	obj    map[string]any
}

func (op operation) String() string { return op.method + " " + op.path }

var (
	specOnce   sync.Once
	loadedSpec *spec
	specErr    error
)

func loadSpec(t *testing.T) *spec {
	t.Helper()
	specOnce.Do(func() { loadedSpec, specErr = parseSpec() })
	if specErr != nil {
		t.Fatal(specErr)
	}
	return loadedSpec
}

func parseSpec() (*spec, error) {
	raw, err := os.ReadFile(specFile)
	if err != nil {
		return nil, err
	}
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		return nil, fmt.Errorf("%s: %w", specFile, err)
	}
	j, err := json.Marshal(jsonCompatible(y))
	if err != nil {
		return nil, fmt.Errorf("%s: to JSON: %w", specFile, err)
	}
	forSchemas, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(specURL, forSchemas); err != nil {
		return nil, fmt.Errorf("%s: %w", specFile, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(j, &doc); err != nil {
		return nil, err
	}
	return &spec{doc: doc, compiler: c, schemas: map[string]*jsonschema.Schema{}}, nil
}

// jsonCompatible turns what YAML decodes into values encoding/json can write: string map keys, RFC 3339 times.
func jsonCompatible(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonCompatible(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonCompatible(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonCompatible(e)
		}
		return v
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return v
}

// escape makes s one JSON pointer token.
func escape(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// at returns the value at a JSON pointer ("" is the document).
func (s *spec) at(ptr string) (any, bool) {
	var v any = s.doc
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

// deref follows a local $ref of a parameter, request body, response or schema, returning the object and its pointer.
func (s *spec) deref(t *testing.T, v any, ptr string) (map[string]any, string) {
	t.Helper()
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object", ptr)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr
		}
		if !strings.HasPrefix(ref, "#/") {
			t.Fatalf("%s: only local $refs are used, got %q", ptr, ref)
		}
		ptr = strings.TrimPrefix(ref, "#")
		if v, ok = s.at(ptr); !ok {
			t.Fatalf("%s: $ref %q leads nowhere", ptr, ref)
		}
	}
	t.Fatalf("%s: $ref chain too long", ptr)
	return nil, ""
}

// schema compiles the schema at ptr (following a $ref, so that compiled schemas are shared).
func (s *spec) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	v, ok := s.at(ptr)
	if !ok {
		t.Fatalf("no schema at %s", ptr)
	}
	if m, ok := v.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#/") {
			ptr = strings.TrimPrefix(ref, "#")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.schemas[ptr]; ok {
		return sch
	}
	frag := (&url.URL{Fragment: ptr}).EscapedFragment()
	sch, err := s.compiler.Compile(specURL + "#" + frag)
	if err != nil {
		t.Fatalf("compile the schema at %s: %v", ptr, err)
	}
	s.schemas[ptr] = sch
	return sch
}

// validate checks the JSON document doc against the schema at ptr.
func (s *spec) validate(t *testing.T, ptr string, doc []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w: %.200s", err, doc)
	}
	return s.schema(t, ptr).Validate(inst)
}

// validateValue checks a value of the parsed document (an example) against the schema at ptr.
func (s *spec) validateValue(t *testing.T, ptr string, v any) error {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.validate(t, ptr, b)
}

// operations lists the spec's operations, sorted by path and method.
func (s *spec) operations(t *testing.T) []operation {
	t.Helper()
	paths, ok := s.doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatal("the spec has no paths")
	}
	var ops []operation
	for p, item := range paths {
		im, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path %s: not an object", p)
		}
		for _, m := range httpMethods {
			if o, ok := im[m].(map[string]any); ok {
				ops = append(ops, operation{method: strings.ToUpper(m), path: p, ptr: "/paths/" + escape(p) + "/" + m, obj: o})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	return ops
}

// parameters returns an operation's parameters, path-level ones included, dereferenced.
func (s *spec) parameters(t *testing.T, op operation) []map[string]any {
	t.Helper()
	var out []map[string]any
	item, _ := s.at("/paths/" + escape(op.path))
	for i, src := range []any{item.(map[string]any)["parameters"], op.obj["parameters"]} {
		list, _ := src.([]any)
		for j, p := range list {
			ptr := fmt.Sprintf("%s/parameters/%d", op.ptr, j)
			if i == 0 {
				ptr = fmt.Sprintf("/paths/%s/parameters/%d", escape(op.path), j)
			}
			m, _ := s.deref(t, p, ptr)
			out = append(out, m)
		}
	}
	return out
}

// example is one documented example value and the pointer of the schema it must satisfy.
type example struct {
	name      string
	value     any
	schemaPtr string
}

// mediaExamples returns the examples of the media type object at ptr, sorted by name.
func (s *spec) mediaExamples(t *testing.T, media map[string]any, ptr string) []example {
	t.Helper()
	exs, _ := media["examples"].(map[string]any)
	names := make([]string, 0, len(exs))
	for n := range exs {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []example
	for _, n := range names {
		ex, _ := s.deref(t, exs[n], ptr+"/examples/"+escape(n))
		v, ok := ex["value"]
		if !ok {
			t.Fatalf("%s/examples/%s: no value", ptr, n)
		}
		out = append(out, example{name: n, value: v, schemaPtr: ptr + "/schema"})
	}
	return out
}

// requestExamples returns an operation's application/json request examples, or nil when it takes no body.
func (s *spec) requestExamples(t *testing.T, op operation) []example {
	t.Helper()
	rb, ok := op.obj["requestBody"]
	if !ok {
		return nil
	}
	m, ptr := s.deref(t, rb, op.ptr+"/requestBody")
	content, _ := m["content"].(map[string]any)
	media, ok := content["application/json"].(map[string]any)
	if !ok {
		t.Fatalf("%s: the request body is not application/json", op)
	}
	return s.mediaExamples(t, media, ptr+"/content/application~1json")
}

// response returns the documented response of op for status, dereferenced, and its pointer.
func (s *spec) response(t *testing.T, op operation, status int) (map[string]any, string, bool) {
	t.Helper()
	rs, _ := op.obj["responses"].(map[string]any)
	r, ok := rs[strconv.Itoa(status)]
	if !ok {
		return nil, "", false
	}
	m, ptr := s.deref(t, r, op.ptr+"/responses/"+strconv.Itoa(status))
	return m, ptr, true
}

// checkAnswer fails the test unless status is documented for op and body matches the documented content.
func (s *spec) checkAnswer(t *testing.T, op operation, status int, header http.Header, body []byte) {
	t.Helper()
	resp, ptr, ok := s.response(t, op, status)
	if !ok {
		t.Errorf("%s answered %d, which the spec does not list; body %.300s", op, status, body)
		return
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(bytes.TrimSpace(body)) > 0 {
			t.Errorf("%s %d: the spec documents no body, got %.300s", op, status, body)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		t.Errorf("%s %d: Content-Type %q: %v", op, status, header.Get("Content-Type"), err)
		return
	}
	if _, ok := content[mt]; !ok {
		t.Errorf("%s %d: Content-Type %s is not documented (the spec has %v)", op, status, mt, keys(content))
		return
	}
	schemaPtr := ptr + "/content/" + escape(mt) + "/schema"
	doc := body
	if !strings.HasSuffix(mt, "json") {
		doc, _ = json.Marshal(string(body))
	}
	if err := s.validate(t, schemaPtr, doc); err != nil {
		t.Errorf("%s %d: the answer does not match the spec's schema: %v\nbody: %.1000s", op, status, err, body)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIDocument checks the spec on its own: the version, an operationId, a summary and examples everywhere, the
// universal errors documented, and every example valid against its schema.
func TestOpenAPIDocument(t *testing.T) {
	s := loadSpec(t)
	if v, _ := s.doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi: %q, want 3.1.x", v)
	}
	ids := map[string]string{}
	for _, op := range s.operations(t) {
		id, _ := op.obj["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", op)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q is also %s's", op, id, other)
		}
		ids[id] = op.String()
		if sum, _ := op.obj["summary"].(string); sum == "" {
			t.Errorf("%s: no summary", op)
		}
		if rb, ok := op.obj["requestBody"]; ok {
			m, ptr := s.deref(t, rb, op.ptr+"/requestBody")
			for mt, media := range m["content"].(map[string]any) {
				if exs, _ := media.(map[string]any)["examples"].(map[string]any); len(exs) == 0 {
					t.Errorf("%s: request body %s has no example", op, mt)
				}
				_ = ptr
			}
		}
		rs, _ := op.obj["responses"].(map[string]any)
		success := false
		for code := range rs {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s: response %q: use explicit status codes", op, code)
				continue
			}
			r, _, _ := s.response(t, op, n)
			content, _ := r["content"].(map[string]any)
			for mt, media := range content {
				if exs, _ := media.(map[string]any)["examples"].(map[string]any); len(exs) == 0 {
					t.Errorf("%s: response %d %s has no example", op, n, mt)
				}
			}
			if n >= 200 && n <= 299 {
				success = true
				if n != 204 && len(content) == 0 {
					t.Errorf("%s: response %d documents no body", op, n)
				}
			}
			if n >= 400 {
				if _, ok := content["application/json"]; !ok {
					t.Errorf("%s: error response %d is not the JSON Error", op, n)
				}
			}
		}
		if !success {
			t.Errorf("%s: no 2xx response", op)
		}
		if opsPaths[op.path] {
			if sec, ok := op.obj["security"].([]any); !ok || len(sec) != 0 {
				t.Errorf("%s: an operations route must say security: [] (no token)", op)
			}
			continue
		}
		for _, code := range []int{401, 500} {
			if _, _, ok := s.response(t, op, code); !ok {
				t.Errorf("%s: response %d is not documented", op, code)
			}
		}
		for _, p := range s.parameters(t, op) {
			if p["in"] == "path" && !strings.Contains(op.path, "{"+p["name"].(string)+"}") {
				t.Errorf("%s: path parameter %q is not in the path", op, p["name"])
			}
		}
	}

	// Every example, wherever it is (operations, components), against its schema.
	n := 0
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["schema"].(map[string]any); ok {
				if ex, ok := v["example"]; ok {
					n++
					if err := s.validateValue(t, ptr+"/schema", ex); err != nil {
						t.Errorf("%s/example: %v", ptr, err)
					}
				}
				if _, ok := v["examples"].(map[string]any); ok {
					for _, ex := range s.mediaExamples(t, v, ptr) {
						n++
						if err := s.validateValue(t, ex.schemaPtr, ex.value); err != nil {
							t.Errorf("%s/examples/%s: %v", ptr, ex.name, err)
						}
					}
					return
				}
			}
			for k, e := range v {
				walk(e, ptr+"/"+escape(k))
			}
		case []any:
			for i, e := range v {
				walk(e, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(s.doc, "")
	if n < 50 {
		t.Errorf("only %d examples checked; the walk is broken", n)
	}
	t.Logf("%d examples valid against their schemas", n)
}

// TestOpenAPIErrorCodes checks that the Error schema's code enum is exactly the Code constants of wire/errors.go (which
// api's own constants repeat), and that every code has an example.
func TestOpenAPIErrorCodes(t *testing.T) {
	s := loadSpec(t)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../wire/errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, sp := range gd.Specs {
			vs := sp.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
					v, _ := strconv.Unquote(lit.Value)
					codes = append(codes, v)
				}
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("found %d Code constants in wire/errors.go; the parse is broken", len(codes))
	}
	enum, _ := s.at("/components/schemas/Error/properties/code/enum")
	var documented []string
	for _, c := range enum.([]any) {
		documented = append(documented, c.(string))
	}
	slices.Sort(codes)
	slices.Sort(documented)
	if !slices.Equal(codes, documented) {
		t.Errorf("Error.code enum %v, wire/errors.go has %v", documented, codes)
	}
	shown := map[string]bool{}
	responses, _ := s.at("/components/responses")
	for name, r := range responses.(map[string]any) {
		media, _ := r.(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)
		for _, ex := range s.mediaExamples(t, media, "/components/responses/"+name+"/content/application~1json") {
			if c, ok := ex.value.(map[string]any)["code"].(string); ok {
				shown[c] = true
			}
		}
	}
	for _, c := range codes {
		if !shown[c] {
			t.Errorf("error code %s has no example in components/responses", c)
		}
	}
}

// liveAPI is the real API over a bolt store in a temp dir, with a running delivery engine, and a receiver that
// answers the handshake, refuses the first standard-profile attempt of each message with 503 and accepts the rest
// (but refuses every POST to /refuse).
type liveAPI struct {
	t      *testing.T
	spec   *spec
	srv    *httptest.Server
	router *mux.Router
	rcv    *httptest.Server
	vars   map[string]string // tenant, endpoint, message, delivery, token, event type
}

func newLiveAPI(t *testing.T, withEngine bool) *liveAPI {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodOptions:
			w.Header().Set("Allow", "POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
		case http.MethodPost:
			io.Copy(io.Discard, r.Body)
			id := r.Header.Get("webhook-id")
			mu.Lock()
			first := id != "" && !seen[id]
			seen[id] = true
			mu.Unlock()
			if first || r.URL.Path == "/refuse" {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(rcv.Close)

	policy := egress.Policy{AllowHTTP: true, AllowPrivate: true}
	logger := slog.New(slog.DiscardHandler)
	var waker events.Waker
	if withEngine {
		eng, err := delivery.NewEngine(delivery.Config{
			Retry:  delivery.Retry{Initial: 10 * time.Millisecond, Cap: 50 * time.Millisecond, Jitter: -1},
			Logger: logger,
		}, delivery.Deps{Queue: st, Messages: st, Endpoints: st, Client: egress.NewClient(egress.ClientConfig{Policy: policy})})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("engine: %v", err)
			}
		})
		waker = eng
	}
	deps := api.Deps{
		Tenants:   tenants.NewService(st, tenants.ServiceConfig{AllowDeletion: true}),
		Endpoints: endpoints.NewService(st, endpoints.Config{Policy: policy}),
		Events:    events.NewService(st, events.Config{Endpoints: st, Log: st, Queue: st, Waker: waker}),
		Log:       st,
		Calls:     calls.New(st, st, calls.Config{Policy: policy}),
	}
	t.Cleanup(deps.Calls.Close)
	m := metrics.New(metrics.Config{Queue: st})
	h, router, err := api.NewWithRouter(api.Config{
		OperatorToken: opToken, Logger: logger, Metrics: m.Handler(), Observer: m,
		// Every route is asked without a valid token here, far more than the failed-authentication throttle allows a
		// minute; the throttle has tests of its own (limits_test.go).
		Limits: api.Limits{AuthFailures: -1},
		ReadyChecks: []api.ReadyCheck{{Name: "store", Check: func(ctx context.Context) error {
			_, err := st.ListTenants(ctx, "", 1)
			return err
		}}},
	}, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &liveAPI{t: t, spec: loadSpec(t), srv: srv, router: router, rcv: rcv, vars: map[string]string{
		"tenant": "acme", "name": "device.enrolled",
		"endpoint": "ep_none", "calls_endpoint": "ep_none", "delivery": "dlv_none", "message": "msg_none", "token": "tok_none",
		"session": "ps_none",
	}}
}

// path fills op's path with the ids at hand.
func (l *liveAPI) path(op operation) string {
	id := l.vars["endpoint"]
	if strings.Contains(op.path, "/deliveries/{id}") {
		id = l.vars["delivery"]
	}
	if strings.HasSuffix(op.path, "/{id}/calls") {
		id = l.vars["calls_endpoint"]
	}
	return strings.NewReplacer("{tenant}", l.vars["tenant"], "{id}", id, "{msg}", l.vars["message"],
		"{token}", l.vars["token"], "{name}", l.vars["name"], "{session}", l.vars["session"]).Replace(op.path)
}

// body turns an example into a request body aimed at this test's receiver and objects.
func (l *liveAPI) body(ex example) []byte {
	b, err := json.Marshal(ex.value)
	if err != nil {
		l.t.Fatal(err)
	}
	return []byte(strings.NewReplacer(exampleHost, l.rcv.URL, exampleEndpointID, l.vars["endpoint"],
		exampleCallsID, l.vars["calls_endpoint"]).Replace(string(b)))
}

// do sends one request; token "" sends none. A nil body sends none.
func (l *liveAPI) do(method, path, token string, body []byte) (int, http.Header, []byte) {
	l.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, l.srv.URL+path, rd)
	if err != nil {
		l.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := l.srv.Client().Do(req)
	if err != nil {
		l.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		l.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// routerOps enumerates the router's routes as "METHOD /path/{var}".
func routerOps(t *testing.T, r *mux.Router) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a route without a path (a matcher group) has nothing to document
		}
		methods, err := route.GetMethods()
		if err != nil {
			return fmt.Errorf("route %s has no method", tpl)
		}
		for _, m := range methods {
			out[m+" "+tpl] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenAPIRoutes checks that the router and the spec list the same paths and methods.
func TestOpenAPIRoutes(t *testing.T) {
	l := newLiveAPI(t, false)
	routes := routerOps(t, l.router)
	if len(routes) < 20 {
		t.Fatalf("the router has %d routes; Walk is not seeing them", len(routes))
	}
	inSpec := map[string]bool{}
	for _, op := range l.spec.operations(t) {
		inSpec[op.String()] = true
		if !routes[op.String()] {
			t.Errorf("%s is in docs/openapi.yaml but not in the router", op)
		}
	}
	for r := range routes {
		if !inSpec[r] {
			t.Errorf("%s is in the router but not in docs/openapi.yaml", r)
		}
	}
}

// TestOpenAPILive sends every documented request example to a real API, in an order that builds what later calls
// need, and checks each answer against the spec.
func TestOpenAPILive(t *testing.T) {
	l := newLiveAPI(t, true)
	ops := map[string]operation{}
	for _, op := range l.spec.operations(t) {
		ops[op.String()] = op
	}
	const (
		tenant   = "/v1/tenants/{tenant}"
		endpoint = tenant + "/endpoints/{id}"
		wait     = "wait for every delivery to finish"
		callsEp  = "create a calls endpoint"
		blockKey = "block an ordering key behind a dead delivery"
	)
	order := []string{
		"POST /v1/tenants", "GET /v1/tenants", "GET " + tenant, "PATCH " + tenant,
		"POST " + tenant + "/tokens", "GET " + tenant + "/tokens",
		"POST " + tenant + "/portal-sessions", "DELETE " + tenant + "/portal-sessions/{session}",
		"POST /v1/event-types", "GET /v1/event-types", "GET /v1/event-types/{name}",
		"POST " + tenant + "/endpoints", "GET " + tenant + "/endpoints", "GET " + endpoint,
		"PATCH " + endpoint, "POST " + endpoint + "/rotate", "GET " + endpoint + "/secret",
		"POST " + endpoint + "/disable", "POST " + endpoint + "/enable",
		"POST " + tenant + "/events", "POST " + tenant + "/events/batch", "POST " + endpoint + "/test",
		wait,
		"GET " + tenant + "/deliveries", "GET " + endpoint + "/deliveries", "GET " + tenant + "/deliveries/{id}",
		blockKey, "POST " + tenant + "/deliveries/{id}/unblock",
		"GET " + tenant + "/messages/{msg}", "POST " + tenant + "/messages/{msg}/replay", "POST " + endpoint + "/recover",
		"DELETE " + tenant + "/messages/{msg}/payload",
		callsEp, "POST " + tenant + "/calls", "GET " + endpoint + "/calls",
		"DELETE " + tenant + "/tokens/{token}", "DELETE /v1/event-types/{name}", "DELETE " + endpoint,
		"DELETE " + tenant,
		"GET /healthz", "GET /readyz", "GET /metrics",
	}
	covered := map[string]bool{}
	for _, key := range order {
		if key == wait {
			l.waitForDeliveries()
			continue
		}
		if key == blockKey {
			l.vars["delivery"] = l.blockedDelivery()
			continue
		}
		if key == callsEp {
			status, _, out := l.do("POST", "/v1/tenants/"+l.vars["tenant"]+"/endpoints", opToken,
				[]byte(`{"url": "`+l.rcv.URL+`", "kind": "calls"}`))
			var ep struct{ ID string }
			if status != http.StatusCreated || json.Unmarshal(out, &ep) != nil {
				t.Fatalf("create a calls endpoint: %d %s", status, out)
			}
			l.vars["calls_endpoint"] = ep.ID
			continue
		}
		op, ok := ops[key]
		if !ok {
			t.Fatalf("the test's order names %s, which the spec does not have", key)
		}
		covered[key] = true
		exs := l.spec.requestExamples(t, op)
		if len(exs) == 0 {
			exs = []example{{name: "no body"}}
		}
		for _, ex := range exs {
			var body []byte
			if ex.value != nil {
				body = l.body(ex)
			}
			status, header, out := l.do(op.method, l.path(op), opToken, body)
			if status < 200 || status > 299 {
				t.Fatalf("%s, example %q: %d %s", op, ex.name, status, out)
			}
			l.spec.checkAnswer(t, op, status, header, out)
			l.learn(op, out)
		}
	}
	for key := range ops {
		if !covered[key] {
			t.Errorf("%s is in the spec but the live test does not call it: add it to the order", key)
		}
	}
}

// learn keeps the ids later calls need from an answer.
func (l *liveAPI) learn(op operation, body []byte) {
	l.t.Helper()
	var v struct {
		ID      string `json:"id"`
		Profile string `json:"profile"`
		Signing string `json:"signing"`
		Data    []struct {
			ID         string `json:"id"`
			EndpointID string `json:"endpoint_id"`
			Attempts   int    `json:"attempts"`
		} `json:"data"`
	}
	if len(body) == 0 || json.Unmarshal(body, &v) != nil {
		return
	}
	switch op.String() {
	case "POST /v1/tenants/{tenant}/tokens":
		l.vars["token"] = v.ID
	case "POST /v1/tenants/{tenant}/portal-sessions":
		l.vars["session"] = v.ID
	case "POST /v1/tenants/{tenant}/endpoints":
		if v.Profile == "standard" && v.Signing == "hmac" {
			l.vars["endpoint"] = v.ID // the rotate and replay examples fit this one
		}
	case "POST /v1/tenants/{tenant}/events":
		if l.vars["message"] == "msg_none" {
			l.vars["message"] = v.ID
		}
	case "GET /v1/tenants/{tenant}/deliveries":
		for _, d := range v.Data {
			if d.EndpointID == l.vars["endpoint"] && d.Attempts > 1 {
				l.vars["delivery"] = d.ID // refused once, then delivered: an attempt log of two
				break
			}
		}
		if l.vars["delivery"] == "dlv_none" {
			l.t.Fatalf("no delivery to %s with two attempts in %s", l.vars["endpoint"], body)
		}
	}
}

// blockedDelivery makes a delivery that holds its ordering key: a keyed event to a new endpoint with
// ordering_on_failure block and no retries, whose one attempt the receiver refuses (its URL ends in /refuse).
func (l *liveAPI) blockedDelivery() string {
	l.t.Helper()
	tenant := "/v1/tenants/" + l.vars["tenant"]
	status, _, out := l.do("POST", tenant+"/endpoints", opToken,
		[]byte(`{"url": "`+l.rcv.URL+`/refuse", "ordering_on_failure": "block", "retries": 0}`))
	var ep struct{ ID string }
	if status != http.StatusCreated || json.Unmarshal(out, &ep) != nil {
		l.t.Fatalf("create a block endpoint: %d %s", status, out)
	}
	status, _, out = l.do("POST", tenant+"/events", opToken, []byte(`{"type": "device.enrolled", "data": {"device_id": "dev-live"}, "ordering_key": "dev-live"}`))
	if status != http.StatusAccepted {
		l.t.Fatalf("publish a keyed event: %d %s", status, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, out = l.do("GET", tenant+"/endpoints/"+ep.ID+"/deliveries?status=dead", opToken, nil)
		var v struct {
			Data []struct {
				ID      string `json:"id"`
				Blocked bool   `json:"blocked"`
			} `json:"data"`
		}
		if status != 200 || json.Unmarshal(out, &v) != nil {
			l.t.Fatalf("list dead deliveries: %d %s", status, out)
		}
		if len(v.Data) == 1 && v.Data[0].Blocked {
			return v.Data[0].ID
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("no blocked delivery after 20s: %s", out)
		}
		time.Sleep(10 * time.Millisecond) // another goroutine's work: a poll with a deadline
	}
}

// waitForDeliveries polls the delivery log until nothing is pending (the engine retries after 10 ms).
func (l *liveAPI) waitForDeliveries() {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		status, _, out := l.do("GET", "/v1/tenants/acme/deliveries?status=pending&limit=1", opToken, nil)
		if status != 200 {
			l.t.Fatalf("list pending deliveries: %d %s", status, out)
		}
		if !strings.Contains(string(out), `"id"`) {
			return
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("deliveries still pending after 20s: %s", out)
		}
		<-tick.C
	}
}

// TestOpenAPIErrorAnswers provokes the errors every operation documents — no token, a tenant token on operator
// routes, an unknown tenant, a bad body, an oversized body, a wrong method — and checks each answer against the spec.
func TestOpenAPIErrorAnswers(t *testing.T) {
	l := newLiveAPI(t, false)
	if status, _, out := l.do("POST", "/v1/tenants", opToken, []byte(`{"id": "acme", "name": "Acme"}`)); status != 201 {
		t.Fatalf("create tenant: %d %s", status, out)
	}
	status, _, out := l.do("POST", "/v1/tenants/acme/tokens", opToken, []byte(`{"name": "ci"}`))
	if status != 201 {
		t.Fatalf("create token: %d %s", status, out)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(out, &tok); err != nil {
		t.Fatal(err)
	}
	large := []byte(`{"data": "` + strings.Repeat("x", api.DefaultMaxEventBytes) + `"}`)
	largeBatch := []byte(`{"data": "` + strings.Repeat("x", api.DefaultMaxBatchBytes) + `"}`)
	paths := map[string]bool{}
	for _, op := range l.spec.operations(t) {
		if opsPaths[op.path] {
			continue
		}
		paths[op.path] = true
		expect := func(what string, want int, token string, body []byte) {
			t.Helper()
			status, header, out := l.do(op.method, l.path(op), token, body)
			if want != 0 && status != want {
				t.Errorf("%s %s: %d %s, want %d", op, what, status, out, want)
				return
			}
			l.spec.checkAnswer(t, op, status, header, out)
		}

		expect("without a token", 401, "", nil)

		// A tenant token: 403 exactly where the spec documents 403 (the operator-only routes).
		status, header, out := l.do(op.method, l.path(op), tok.Token, nil)
		_, _, documents403 := l.spec.response(t, op, 403)
		if (status == 403) != documents403 {
			t.Errorf("%s with a tenant token: %d %s; the spec documents 403: %v", op, status, out, documents403)
		}
		l.spec.checkAnswer(t, op, status, header, out)

		if strings.Contains(op.path, "{tenant}") {
			l.vars["tenant"] = "nope"
			expect("for an unknown tenant", 404, opToken, nil)
			l.vars["tenant"] = "acme"
		}
		if _, ok := op.obj["requestBody"]; ok {
			expect("with an unknown field", 400, opToken, []byte(`{"no_such_field": 1}`))
			if strings.HasSuffix(op.path, "/events/batch") {
				expect("with a body over the limit", 413, opToken, largeBatch)
			} else {
				expect("with a body over the limit", 413, opToken, large)
			}
		}
	}
	// Every path answers a method it does not list with 405.
	notAllowed, ptr := l.spec.deref(t, map[string]any{"$ref": "#/components/responses/MethodNotAllowed"}, "")
	_ = notAllowed
	for p := range paths {
		status, _, out := l.do("PUT", l.path(operation{path: p}), opToken, []byte(`{}`))
		if status != http.StatusMethodNotAllowed {
			t.Errorf("PUT %s: %d %s, want 405", p, status, out)
			continue
		}
		if err := l.spec.validate(t, ptr+"/content/application~1json/schema", out); err != nil {
			t.Errorf("PUT %s: %v", p, err)
		}
	}
}

// Keys the OpenAPI 3.1 objects this spec uses may have: a misspelt key ("requried", "exmaples") is otherwise ignored by
// every tool, silently.
var (
	pathItemKeys  = setOf("summary", "description", "parameters", "servers", "get", "put", "post", "delete", "patch", "options", "head", "trace")
	operationKeys = setOf("tags", "summary", "description", "operationId", "parameters", "requestBody", "responses", "security", "deprecated", "servers", "externalDocs")
	parameterKeys = setOf("name", "in", "description", "required", "deprecated", "schema", "example", "examples", "style", "explode")
	requestKeys   = setOf("description", "content", "required")
	responseKeys  = setOf("description", "content", "headers")
	mediaKeys     = setOf("schema", "example", "examples", "encoding")
	exampleKeys   = setOf("summary", "description", "value")
	schemaKeys    = setOf("$ref", "type", "enum", "const", "format", "pattern", "minLength", "maxLength", "minimum",
		"maximum", "minItems", "maxItems", "maxProperties", "required", "properties", "additionalProperties", "items",
		"default", "description", "examples", "oneOf", "anyOf", "allOf", "nullable")
)

func setOf(ks ...string) map[string]bool {
	m := make(map[string]bool, len(ks))
	for _, k := range ks {
		m[k] = true
	}
	return m
}

// TestOpenAPIStructure checks the keys of path items, operations, parameters, bodies, responses, media types,
// examples and schemas against the OpenAPI 3.1 fields this spec uses, and that path parameters are required.
func TestOpenAPIStructure(t *testing.T) {
	s := loadSpec(t)
	check := func(ptr string, v any, allowed map[string]bool) map[string]any {
		t.Helper()
		m, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: not an object", ptr)
			return nil
		}
		if _, isRef := m["$ref"]; isRef && len(m) == 1 {
			return nil // checked where it points
		}
		for k := range m {
			if !allowed[k] && !strings.HasPrefix(k, "x-") {
				t.Errorf("%s: unknown key %q", ptr, k)
			}
		}
		return m
	}
	var checkSchema func(ptr string, v any)
	checkSchema = func(ptr string, v any) {
		m := check(ptr, v, schemaKeys)
		if m == nil {
			return
		}
		if props, ok := m["properties"].(map[string]any); ok {
			for k, p := range props {
				checkSchema(ptr+"/properties/"+escape(k), p)
			}
		}
		for _, k := range []string{"items", "additionalProperties"} {
			if sub, ok := m[k].(map[string]any); ok {
				checkSchema(ptr+"/"+k, sub)
			}
		}
		for _, k := range []string{"oneOf", "anyOf", "allOf"} {
			list, _ := m[k].([]any)
			for i, sub := range list {
				checkSchema(fmt.Sprintf("%s/%s/%d", ptr, k, i), sub)
			}
		}
	}
	checkMedia := func(ptr string, content any) {
		cm, _ := content.(map[string]any)
		for mt, media := range cm {
			mptr := ptr + "/content/" + escape(mt)
			mm := check(mptr, media, mediaKeys)
			if mm == nil {
				continue
			}
			checkSchema(mptr+"/schema", mm["schema"])
			exs, _ := mm["examples"].(map[string]any)
			for n, ex := range exs {
				check(mptr+"/examples/"+escape(n), ex, exampleKeys)
			}
		}
	}
	checkParam := func(ptr string, v any) {
		m := check(ptr, v, parameterKeys)
		if m == nil {
			return
		}
		if m["in"] == "path" && m["required"] != true {
			t.Errorf("%s: a path parameter must say required: true", ptr)
		}
		checkSchema(ptr+"/schema", m["schema"])
	}
	paths, _ := s.doc["paths"].(map[string]any)
	for p, item := range paths {
		pptr := "/paths/" + escape(p)
		im := check(pptr, item, pathItemKeys)
		params, _ := im["parameters"].([]any)
		for i, prm := range params {
			checkParam(fmt.Sprintf("%s/parameters/%d", pptr, i), prm)
		}
	}
	for _, op := range s.operations(t) {
		om := check(op.ptr, op.obj, operationKeys)
		params, _ := om["parameters"].([]any)
		for i, prm := range params {
			checkParam(fmt.Sprintf("%s/parameters/%d", op.ptr, i), prm)
		}
		if rb, ok := om["requestBody"]; ok {
			if m := check(op.ptr+"/requestBody", rb, requestKeys); m != nil {
				checkMedia(op.ptr+"/requestBody", m["content"])
			}
		}
		rs, _ := om["responses"].(map[string]any)
		for code, r := range rs {
			rptr := op.ptr + "/responses/" + code
			if m := check(rptr, r, responseKeys); m != nil {
				if _, ok := m["description"].(string); !ok {
					t.Errorf("%s: a response needs a description", rptr)
				}
				checkMedia(rptr, m["content"])
			}
		}
	}
	comps, _ := s.doc["components"].(map[string]any)
	for name, p := range comps["parameters"].(map[string]any) {
		checkParam("/components/parameters/"+name, p)
	}
	for name, r := range comps["responses"].(map[string]any) {
		rptr := "/components/responses/" + name
		if m := check(rptr, r, responseKeys); m != nil {
			checkMedia(rptr, m["content"])
		}
	}
	for name, sch := range comps["schemas"].(map[string]any) {
		checkSchema("/components/schemas/"+name, sch)
	}
}
