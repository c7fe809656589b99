package gateway

import (
	"fmt"

	"github.com/webhookd/webhookd/events"
)

// tenantPolicies are the tenants' schema settings declared in the config file.
type tenantPolicies map[string]events.SchemaPolicy

func (p tenantPolicies) SchemaPolicy(tenantID string) events.SchemaPolicy { return p[tenantID] }

// schemaPolicies returns the schema settings the config file declares per tenant; nil without a file or settings.
func (f *fileConfig) schemaPolicies() events.Policies {
	if f == nil {
		return nil
	}
	p := tenantPolicies{}
	for _, t := range f.Tenants {
		if t.SchemaMode != "" || t.UnknownEventTypes != "" {
			p[t.ID] = events.SchemaPolicy{Mode: t.SchemaMode, Unknown: t.UnknownEventTypes}
		}
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

func checkSchemaConfig(cfg Config) error {
	if cfg.SchemaMode != "" && !events.ValidSchemaMode(cfg.SchemaMode) {
		return fmt.Errorf("%w: SchemaMode %q: must be enforce, warn or off", ErrConfig, cfg.SchemaMode)
	}
	if cfg.UnknownEventTypes != "" && !events.ValidUnknownTypes(cfg.UnknownEventTypes) {
		return fmt.Errorf("%w: UnknownEventTypes %q: must be allow or refuse", ErrConfig, cfg.UnknownEventTypes)
	}
	return nil
}

// schemaWarning logs and counts an event accepted in warn mode though its data breaks its type's schema.
func (g *Gateway) schemaWarning(w events.SchemaWarning) {
	if g.metrics != nil {
		g.metrics.SchemaWarned(w.TenantID)
	}
	g.log.Warn("event data breaks its type's schema (warn mode: accepted)", "tenant", w.TenantID, "type", w.Err.Type,
		"schema_version", w.Err.Version, "path", w.Err.Path, "rule", w.Err.Rule, "error", w.Err.Message)
}
