package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/egress"
	"github.com/webhookd/webhookd/endpoints"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/ids"
	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
	"github.com/webhookd/webhookd/tenants"
)

// The declarative config file (Config.ConfigFile, serve --config) declares tenants and their endpoints, so that a sidecar can be set up with
// no API calls. It is JSON (no extra dependency; comments are not allowed), read strictly: an unknown field is an
// error. Example:
//
//	{
//	  "tenants": [
//	    {
//	      "id": "acme",
//	      "name": "Acme Corp",
//	      "endpoints": [
//	        {
//	          "id": "billing",
//	          "url": "https://billing.acme.example/webhooks",
//	          "description": "invoices to billing",
//	          "events": ["invoice.*", "device.enrolled"],
//	          "profile": "standard",
//	          "signing": "hmac",
//	          "secret_env": "ACME_BILLING_SECRET",
//	          "headers": {"X-Team": "billing"},
//	          "rate_limit": 10,
//	          "timeout": "2s",
//	          "metadata": {"owner": "billing-team"}
//	        }
//	      ]
//	    }
//	  ]
//	}
//
// It is applied at every start, before the API listens and the engine runs, through the same services the API uses,
// so the same validation, URL policy and OPTIONS handshake apply. A tenant is created when missing (tenants have no
// update: a different name is reported and left). An endpoint is matched by its file id, kept in its metadata under
// configIDKey: created when missing, updated when a field differs, never deleted when the file no longer mentions it,
// never enabled or disabled. A secret_env whose value differs from the endpoint's current key rotates the key (the
// old one keeps signing for Config.RotationGrace); without secret_env a key is generated at creation and left alone.

// configIDKey is the metadata key that ties an endpoint to its entry in the config file.
const configIDKey = "webhookd.config_id"

// fileConfig is the config file.
type fileConfig struct {
	Tenants []fileTenant `json:"tenants"`
	// AllowTenantDeletion turns on tenant deletion like --allow-tenant-deletion.
	AllowTenantDeletion bool `json:"allow_tenant_deletion"`
	// OperatorTenant, Recheck and RetryLimits are the operator's settings of Config's fields of the same names; each
	// applies where Config leaves the field zero (serve passes zero for a flag not given).
	OperatorTenant string           `json:"operator_tenant"`
	Recheck        *fileRecheck     `json:"recheck"`
	RetryLimits    *fileRetryLimits `json:"retry_limits"`
}

// fileRecheck is the config file's endpoints.RecheckConfig: every "0s" and disable_after 0 mean never.
type fileRecheck struct {
	Every        *fileDuration `json:"every"`
	PerHost      *fileDuration `json:"per_host"`
	DisableAfter *int          `json:"disable_after"`
}

// fileRetryLimits is the config file's endpoints.RetryLimits.
type fileRetryLimits struct {
	MaxRetries int          `json:"max_retries"`
	MinInitial fileDuration `json:"min_initial"`
	MaxCap     fileDuration `json:"max_cap"`
}

// apply fills the fields of cfg that the file sets and cfg leaves zero.
func (fc *fileConfig) apply(cfg Config) Config {
	if fc == nil {
		return cfg
	}
	if cfg.OperatorTenant == "" {
		cfg.OperatorTenant = fc.OperatorTenant
	}
	if r := fc.Recheck; r != nil {
		never := func(v, none int64) int64 {
			if v == 0 {
				return none
			}
			return v
		}
		if r.Every != nil && cfg.Recheck.Every == 0 {
			cfg.Recheck.Every = time.Duration(never(int64(*r.Every), -1))
		}
		if r.PerHost != nil && cfg.Recheck.PerHost == 0 {
			cfg.Recheck.PerHost = time.Duration(*r.PerHost)
		}
		if r.DisableAfter != nil && cfg.Recheck.DisableAfter == 0 {
			cfg.Recheck.DisableAfter = int(never(int64(*r.DisableAfter), -1))
		}
	}
	if l := fc.RetryLimits; l != nil {
		cfg.RetryLimits.MaxRetries = cmp.Or(cfg.RetryLimits.MaxRetries, l.MaxRetries)
		cfg.RetryLimits.MinInitial = cmp.Or(cfg.RetryLimits.MinInitial, time.Duration(l.MinInitial))
		cfg.RetryLimits.MaxCap = cmp.Or(cfg.RetryLimits.MaxCap, time.Duration(l.MaxCap))
	}
	return cfg
}

// checkSettings refuses operator settings out of range.
func (fc *fileConfig) checkSettings() error {
	if fc.OperatorTenant != "" && !ids.Valid(fc.OperatorTenant) {
		return errors.New("operator_tenant must be 1 to 64 of [A-Za-z0-9_-]")
	}
	if r := fc.Recheck; r != nil {
		switch {
		case r.Every != nil && *r.Every < 0, r.PerHost != nil && *r.PerHost < 0:
			return errors.New("recheck: every and per_host must not be negative")
		case r.DisableAfter != nil && *r.DisableAfter < 0:
			return errors.New("recheck: disable_after must not be negative (0: never)")
		}
	}
	if l := fc.RetryLimits; l != nil && (l.MaxRetries < 0 || l.MinInitial < 0 || l.MaxCap < 0 ||
		l.MaxCap > 0 && l.MinInitial > l.MaxCap) {
		return errors.New("retry_limits: max_retries, min_initial and max_cap must not be negative, min_initial at most max_cap")
	}
	return nil
}

type fileTenant struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Endpoints []fileEndpoint `json:"endpoints"`

	SchemaMode        events.SchemaMode   `json:"schema_mode"`         // overrides --schema-mode
	UnknownEventTypes events.UnknownTypes `json:"unknown_event_types"` // overrides --unknown-event-types
}

type fileEndpoint struct {
	ID          string            `json:"id"`
	URL         string            `json:"url"`
	Description string            `json:"description"`
	Events      []string          `json:"events"`
	Profile     string            `json:"profile"`
	Signing     string            `json:"signing"`
	SecretEnv   string            `json:"secret_env"`
	Headers     map[string]string `json:"headers"`
	RateLimit   float64           `json:"rate_limit"`
	Timeout     fileDuration      `json:"timeout"`
	Metadata    map[string]string `json:"metadata"`
	// Kind is "events" (the default) or "calls"; Calls holds a calls endpoint's error tags and response schemas.
	Kind  string                  `json:"kind"`
	Calls *endpoints.CallSettings `json:"calls"`

	secret string // the value of SecretEnv, resolved by loadConfigFile
}

// fileDuration is a Go duration string ("2s") or a number of milliseconds, as in the API.
type fileDuration time.Duration

func (d *fileDuration) UnmarshalJSON(b []byte) error {
	if s, err := strconv.Unquote(string(b)); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: want a Go duration such as \"2s\" or a number of milliseconds", s)
		}
		*d = fileDuration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("duration %s: want a Go duration such as \"2s\" or a number of milliseconds", b)
	}
	*d = fileDuration(time.Duration(ms * float64(time.Millisecond)))
	return nil
}

// entryError names the entry of the config file an error is about.
type entryError struct {
	Entry string // tenants[acme].endpoints[billing]
	Err   error
}

func (e *entryError) Error() string { return e.Entry + ": " + e.Err.Error() }
func (e *entryError) Unwrap() error { return e.Err }

func tenantEntry(i int, id string) string {
	if id == "" {
		return fmt.Sprintf("tenants[%d]", i)
	}
	return "tenants[" + id + "]"
}

func endpointEntry(tenant string, j int, id string) string {
	if id == "" {
		return fmt.Sprintf("%s.endpoints[%d]", tenant, j)
	}
	return tenant + ".endpoints[" + id + "]"
}

// loadConfigFile reads and checks the config file: syntax, required fields, unique ids, the field rules that need no
// I/O (URL syntax and policy, filters, headers, profile and signing, the secret's form), and the secret variables,
// read with getenv. Nothing is written: a bad file fails before anything changes.
func loadConfigFile(path string, policy egress.Policy, getenv func(string) (string, bool)) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var fc fileConfig
	if err := dec.Decode(&fc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, describeJSONError(b, err))
	}
	if dec.More() {
		return nil, fmt.Errorf("config file %s: data after the top-level object", path)
	}
	if err := fc.checkSettings(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	seenTenant := map[string]bool{}
	for i := range fc.Tenants {
		t := &fc.Tenants[i]
		entry := tenantEntry(i, t.ID)
		fail := func(format string, args ...any) error {
			return fmt.Errorf("config file %s: %w", path, &entryError{entry, fmt.Errorf(format, args...)})
		}
		switch {
		case t.ID == "":
			return nil, fail("id is required (tenants are matched by id)")
		case !ids.Valid(t.ID):
			return nil, fail("id must be 1 to 64 of [A-Za-z0-9_-]")
		case seenTenant[t.ID]:
			return nil, fail("declared twice")
		case strings.TrimSpace(t.Name) == "":
			return nil, fail("name is required")
		case t.SchemaMode != "" && !events.ValidSchemaMode(t.SchemaMode):
			return nil, fail("schema_mode must be enforce, warn or off")
		case t.UnknownEventTypes != "" && !events.ValidUnknownTypes(t.UnknownEventTypes):
			return nil, fail("unknown_event_types must be allow or refuse")
		}
		seenTenant[t.ID] = true
		seenEP := map[string]bool{}
		for j := range t.Endpoints {
			e := &t.Endpoints[j]
			entry := endpointEntry(entry, j, e.ID)
			fail := func(err error) error {
				return fmt.Errorf("config file %s: %w", path, &entryError{entry, err})
			}
			switch {
			case e.ID == "":
				return nil, fail(errors.New("id is required (endpoints are matched by it)"))
			case !ids.Valid(e.ID):
				return nil, fail(errors.New("id must be 1 to 64 of [A-Za-z0-9_-]"))
			case seenEP[e.ID]:
				return nil, fail(errors.New("declared twice"))
			case e.URL == "":
				return nil, fail(errors.New("url is required"))
			}
			seenEP[e.ID] = true
			if _, ok := e.Metadata[configIDKey]; ok {
				return nil, fail(fmt.Errorf("metadata: %q is set by webhookd", configIDKey))
			}
			if _, err := policy.CheckURL(e.URL); err != nil {
				return nil, fail(fmt.Errorf("url: %w", err))
			}
			want := e.desired()
			filters := endpoints.ValidateFilters(want.Events)
			if err := endpoints.ValidateKind(e.Kind); err != nil {
				return nil, fail(err)
			}
			switch {
			case want.IsCalls() && len(e.Events) > 0:
				return nil, fail(errors.New("events: a calls endpoint receives no events"))
			case want.IsCalls():
				filters = endpoints.ValidateCallSettings(want.Calls)
			case e.Calls != nil:
				return nil, fail(errors.New(`calls: only a calls endpoint (kind "calls") takes call settings`))
			}
			for _, err := range []error{
				endpoints.ValidateDescription(want.Description),
				filters,
				endpoints.ValidateHeaders(want.Headers),
				endpoints.ValidateRateLimit(want.RateLimit),
				endpoints.ValidateTimeout(want.Timeout),
				endpoints.ValidateMetadata(want.Metadata),
			} {
				if err != nil {
					return nil, fail(err)
				}
			}
			if e.SecretEnv != "" {
				v, ok := getenv(e.SecretEnv)
				if !ok || v == "" {
					return nil, fail(fmt.Errorf("secret_env: %s is not set", e.SecretEnv))
				}
				e.secret = v
			}
			if err := e.checkScheme(); err != nil {
				return nil, fail(err)
			}
		}
	}
	return &fc, nil
}

// describeJSONError adds the line of a syntax or type error.
func describeJSONError(b []byte, err error) error {
	var off int64
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	default:
		return err
	}
	line := 1 + bytes.Count(b[:min(int(off), len(b))], []byte("\n"))
	return fmt.Errorf("line %d: %w", line, err)
}

// desired returns the endpoint as the file wants it, defaults filled in (the fields Update compares).
func (e *fileEndpoint) desired() endpoints.Endpoint {
	md := maps.Clone(e.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	md[configIDKey] = e.ID
	events := slices.Clone(e.Events)
	switch {
	case e.Kind == endpoints.KindCalls:
		events = []string{}
	case events == nil:
		events = []string{"*"}
	}
	kind := ""
	if e.Kind == endpoints.KindCalls {
		kind = endpoints.KindCalls
	}
	return endpoints.Endpoint{
		URL:         e.URL,
		Description: e.Description,
		Events:      events,
		Profile:     cmp.Or(e.Profile, profiles.Standard.Name()),
		Algorithm:   e.algorithm(),
		Headers:     e.Headers,
		RateLimit:   e.RateLimit,
		Timeout:     cmp.Or(time.Duration(e.Timeout), endpoints.DefaultTimeout),
		Metadata:    md,
		Kind:        kind,
		Calls:       e.Calls,
	}
}

// algorithm is the signing algorithm the file asks for: signing, else that of the secret, else hmac.
func (e *fileEndpoint) algorithm() string {
	if e.Signing != "" {
		return e.Signing
	}
	if e.secret != "" {
		if p, err := profiles.Lookup(e.Profile); err == nil {
			if k, err := p.ParseKey(e.secret); err == nil {
				return k.Algorithm().String()
			}
		}
	}
	return signing.HMAC.String()
}

// checkScheme checks the profile, the signing algorithm and the secret's form. Its errors never show the secret.
func (e *fileEndpoint) checkScheme() error {
	want := e.desired()
	if err := endpoints.ValidateProfile(want.Profile, want.Algorithm); err != nil {
		return err
	}
	if e.secret == "" {
		return nil
	}
	p, _ := profiles.Lookup(want.Profile)
	k, err := p.ParseKey(e.secret)
	if err != nil {
		return fmt.Errorf("secret_env: the value of %s is not a %s secret: %w", e.SecretEnv, want.Profile, err)
	}
	if k.Algorithm().String() != want.Algorithm {
		return fmt.Errorf("secret_env: the value of %s is an %s secret, but signing is %s", e.SecretEnv, k.Algorithm(), want.Algorithm)
	}
	return nil
}

// applyResult counts what applyConfig did.
type applyResult struct {
	TenantsCreated, EndpointsCreated, EndpointsUpdated, EndpointsRotated, Unchanged int
}

// applyConfig makes the store match fc: see the comment at the top of this file. An error names the entry; entries
// before it stay applied (applying again is safe).
func applyConfig(ctx context.Context, fc *fileConfig, ts *tenants.Service, es *endpoints.Service, log *slog.Logger) (applyResult, error) {
	var res applyResult
	for i := range fc.Tenants {
		t := &fc.Tenants[i]
		entry := tenantEntry(i, t.ID)
		cur, err := ts.Get(ctx, t.ID)
		switch {
		case errors.Is(err, tenants.ErrNotFound):
			_, err := ts.Create(ctx, tenants.CreateInput{ID: t.ID, Name: t.Name})
			if errors.Is(err, tenants.ErrExists) {
				// Its deletion has begun and is not finished: it is declared again at the next start.
				log.Warn("config: tenant is being deleted; left out until its deletion is finished", "tenant", t.ID)
				continue
			}
			if err != nil {
				return res, &entryError{entry, err}
			}
			res.TenantsCreated++
			log.Info("config: created tenant", "tenant", t.ID)
		case err != nil:
			return res, &entryError{entry, err}
		case cur.Name != t.Name:
			log.Warn("config: tenant name differs from the file; tenants cannot be renamed, left as is", "tenant", t.ID)
		}
		existing, err := configEndpoints(ctx, es, t.ID)
		if err != nil {
			return res, &entryError{entry, err}
		}
		declared := map[string]bool{}
		for j := range t.Endpoints {
			fe := &t.Endpoints[j]
			declared[fe.ID] = true
			epEntry := endpointEntry(entry, j, fe.ID)
			if err := applyEndpoint(ctx, es, t.ID, fe, existing[fe.ID], &res, log); err != nil {
				return res, &entryError{epEntry, err}
			}
		}
		for id, ep := range existing {
			if !declared[id] {
				log.Info("config: endpoint is no longer in the file; left as is (delete it through the API)",
					"tenant", t.ID, "config_id", id, "endpoint_id", ep.ID)
			}
		}
	}
	return res, nil
}

// configEndpoints returns a tenant's endpoints that came from the config file, by config id.
func configEndpoints(ctx context.Context, es *endpoints.Service, tenant string) (map[string]*endpoints.Endpoint, error) {
	out := map[string]*endpoints.Endpoint{}
	for after := ""; ; {
		page, next, err := es.List(ctx, tenant, after, 100)
		if err != nil {
			return nil, err
		}
		for _, ep := range page {
			id, ok := ep.Metadata[configIDKey]
			if !ok {
				continue
			}
			if other, dup := out[id]; dup {
				return nil, fmt.Errorf("endpoints %s and %s both carry %s %q: delete one", other.ID, ep.ID, configIDKey, id)
			}
			out[id] = ep
		}
		if next == "" {
			return out, nil
		}
		after = next
	}
}

// applyEndpoint creates or updates one endpoint.
func applyEndpoint(ctx context.Context, es *endpoints.Service, tenant string, fe *fileEndpoint, cur *endpoints.Endpoint, res *applyResult, log *slog.Logger) error {
	want := fe.desired()
	if cur == nil {
		ep, err := es.Create(ctx, tenant, endpoints.CreateInput{
			URL: want.URL, Description: want.Description, Events: want.Events, Profile: want.Profile,
			Signing: want.Algorithm, Secret: fe.secret, Headers: want.Headers, RateLimit: want.RateLimit,
			Timeout: want.Timeout, Metadata: want.Metadata, Kind: want.Kind, Calls: want.Calls,
		})
		if err != nil {
			return err
		}
		res.EndpointsCreated++
		log.Info("config: created endpoint", "tenant", tenant, "config_id", fe.ID, "endpoint_id", ep.ID)
		return nil
	}

	var (
		in      endpoints.UpdateInput
		changed []string
	)
	if want.IsCalls() != cur.IsCalls() {
		return fmt.Errorf("endpoint %s: kind %q in the file, %q stored: a kind never changes, delete the endpoint first",
			cur.ID, cmp.Or(want.Kind, endpoints.KindEvents), cmp.Or(cur.Kind, endpoints.KindEvents))
	}
	if want.IsCalls() && !sameCalls(want.Calls, cur.Calls) {
		in.Calls, changed = cmp.Or(want.Calls, &endpoints.CallSettings{}), append(changed, "calls")
	}
	if want.URL != cur.URL {
		in.URL, changed = &want.URL, append(changed, "url")
	}
	if want.Description != cur.Description {
		in.Description, changed = &want.Description, append(changed, "description")
	}
	if !slices.Equal(want.Events, cur.Events) {
		in.Events, changed = &want.Events, append(changed, "events")
	}
	if !maps.Equal(want.Headers, cur.Headers) {
		h := want.Headers
		if h == nil {
			h = map[string]string{}
		}
		in.Headers, changed = &h, append(changed, "headers")
	}
	if want.RateLimit != cur.RateLimit {
		in.RateLimit, changed = &want.RateLimit, append(changed, "rate_limit")
	}
	if want.Timeout != cur.Timeout {
		in.Timeout, changed = &want.Timeout, append(changed, "timeout")
	}
	if !maps.Equal(want.Metadata, cur.Metadata) {
		in.Metadata, changed = &want.Metadata, append(changed, "metadata")
	}
	schemeChanged := want.Profile != cur.Profile || want.Algorithm != cur.Algorithm
	if schemeChanged {
		in.Profile, in.Signing = &want.Profile, &want.Algorithm
		changed = append(changed, "profile/signing")
		if fe.secret != "" {
			in.Secret = &fe.secret
		}
	}
	if len(changed) > 0 {
		updated, err := es.Update(ctx, tenant, cur.ID, in)
		if err != nil {
			return err
		}
		cur = updated
		res.EndpointsUpdated++
		log.Info("config: updated endpoint", "tenant", tenant, "config_id", fe.ID, "endpoint_id", cur.ID,
			"fields", strings.Join(changed, ","))
	}
	if fe.secret != "" && (len(cur.Keys) == 0 || cur.Keys[0].Secret != fe.secret) {
		// The scheme is unchanged and the file names another secret: make it current, the old one in grace.
		if _, err := es.Rotate(ctx, tenant, cur.ID, endpoints.RotateInput{Secret: fe.secret}); err != nil {
			return err
		}
		res.EndpointsRotated++
		log.Info("config: rotated endpoint key to the secret of its secret_env", "tenant", tenant,
			"config_id", fe.ID, "endpoint_id", cur.ID, "secret_env", fe.SecretEnv)
		return nil
	}
	if len(changed) == 0 {
		res.Unchanged++
	}
	return nil
}

// sameCalls reports whether two call settings are the same (schemas compared as JSON text, compacted).
func sameCalls(a, b *endpoints.CallSettings) bool {
	norm := func(c *endpoints.CallSettings) string {
		if c == nil {
			c = &endpoints.CallSettings{}
		}
		out, _ := json.Marshal(c) // compacts the schemas; sorts the paths
		return string(out)
	}
	return norm(a) == norm(b)
}
