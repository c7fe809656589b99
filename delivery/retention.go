package delivery

import (
	"context"
	"log/slog"
	"time"
)

// DefaultRetention is how long finished deliveries, their attempts and their messages are kept by default.
const DefaultRetention = 7 * 24 * time.Hour

// Pruner deletes what finished before a cutoff. Log is one.
type Pruner interface {
	Prune(ctx context.Context, cutoff time.Time) (int, error)
}

// TenantPruner is a Pruner that gives each tenant its own cutoff (a tenant's own retention period).
type TenantPruner interface {
	// PruneBy deletes what finished before cutoff(tenant), tenant by tenant, and looks at nothing that finished
	// after latest, the latest cutoff of any tenant. It returns how many deliveries it deleted.
	PruneBy(ctx context.Context, latest time.Time, cutoff func(tenantID string) time.Time) (int, error)
}

// RetentionConfig configures a Retention.
type RetentionConfig struct {
	// Keep is how long finished deliveries, their attempts and their messages are kept. Defaults to DefaultRetention;
	// negative keeps them for ever (Run then returns at once).
	Keep time.Duration
	// Every is how often Run prunes. Defaults to Keep/24, between 1s and 1h.
	Every time.Duration
	// Now is the clock of the cutoff. Defaults to time.Now.
	Now func() time.Time
	// Logger hears of every prune that deleted something or failed. Defaults to slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told of a failed prune as StoreError("prune").
	Observer Observer
	// TenantKeep, if set, lists the tenants with a retention period of their own (shorter or longer than Keep);
	// it is read at every prune, and honoured when the Pruner is a TenantPruner.
	TenantKeep func(ctx context.Context) (map[string]time.Duration, error)
}

// Retention is the delivery log's maintenance service: it enforces the retention period by pruning the log at
// start and then every Every, for as long as Run runs. One runs per process; several replicas pruning the same
// store is harmless (a prune deletes what is already gone as nothing).
type Retention struct {
	p   Pruner
	cfg RetentionConfig
}

// NewRetention returns a Retention pruning p under cfg, defaults filled in.
func NewRetention(p Pruner, cfg RetentionConfig) *Retention {
	if cfg.Keep == 0 {
		cfg.Keep = DefaultRetention
	}
	if cfg.Every <= 0 {
		cfg.Every = min(time.Hour, max(cfg.Keep/24, time.Second))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Retention{p: p, cfg: cfg}
}

// Config returns the retention's configuration, defaults filled in.
func (r *Retention) Config() RetentionConfig { return r.cfg }

// Run prunes now and then every Every until ctx ends, and returns nil. A failed prune is logged and tried again at
// the next round. With a negative Keep and no TenantKeep it returns at once.
func (r *Retention) Run(ctx context.Context) error {
	if r.cfg.Keep < 0 && r.cfg.TenantKeep == nil {
		return nil
	}
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	for {
		r.PruneOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PruneOnce deletes what finished more than Keep ago (a tenant's own period ago, for a tenant that has one) and
// returns how many deliveries it deleted.
func (r *Retention) PruneOnce(ctx context.Context) int {
	n, err := r.prune(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		r.cfg.Observer.StoreError("prune")
		r.cfg.Logger.Warn("retention prune failed", "err", err)
	case n > 0:
		r.cfg.Logger.Info("retention pruned deliveries", "count", n)
	}
	return n
}

func (r *Retention) prune(ctx context.Context) (int, error) {
	now := r.cfg.Now()
	var def time.Time // the zero time: nothing finished before it, so nothing is pruned
	if r.cfg.Keep >= 0 {
		def = now.Add(-r.cfg.Keep)
	}
	tp, ok := r.p.(TenantPruner)
	if r.cfg.TenantKeep == nil || !ok {
		if r.cfg.Keep < 0 {
			return 0, nil
		}
		return r.p.Prune(ctx, def)
	}
	own, err := r.cfg.TenantKeep(ctx)
	if err != nil {
		// Without the list, the default could prune what a tenant keeps longer: skip this round.
		return 0, err
	}
	if len(own) == 0 {
		if r.cfg.Keep < 0 {
			return 0, nil
		}
		return r.p.Prune(ctx, def)
	}
	latest := def
	cut := make(map[string]time.Time, len(own))
	for t, keep := range own {
		cut[t] = now.Add(-keep)
		if cut[t].After(latest) {
			latest = cut[t]
		}
	}
	return tp.PruneBy(ctx, latest, func(tenant string) time.Time {
		if c, ok := cut[tenant]; ok {
			return c
		}
		return def
	})
}
