package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/webhookd/webhookd/secrets"
	boltstore "github.com/webhookd/webhookd/store/boltstore"
)

// ErrNoKeyring is returned by New when the store holds endpoint secrets sealed under operator keys and
// Config.Keyring is nil: they could not be opened.
var ErrNoKeyring = errors.New("no operator keyring configured")

// checkSecretsAtRest runs at start, on g.store. Without a keyring it refuses a store holding sealed secrets
// (ErrNoKeyring) and warns that secrets are kept in plaintext. With one, it opens every sealed secret (a missing or
// wrong key fails the start now, naming the endpoint, rather than every delivery later) and seals those still in
// plaintext; when it sealed any in the embedded store, it rewrites the file (RewriteStore) so that no freed page
// keeps them in the clear, which replaces g.store.
func (g *Gateway) checkSecretsAtRest(ctx context.Context) error {
	n, err := checkSecretsAtRest(ctx, g.store, g.cfg.Keyring, g.log)
	if err != nil || n == 0 {
		return err
	}
	rewritten, err := RewriteStore(ctx, g.store, g.cfg.Store, g.cfg.Data)
	if rewritten != nil {
		g.store = rewritten
	}
	if err != nil {
		return fmt.Errorf("secrets at rest: after sealing: %w", err)
	}
	if rewritten != nil {
		g.log.Info("rewrote the embedded store into a fresh file: no freed page keeps a plaintext secret",
			"file", g.store.(*boltstore.Store).Path())
	}
	return nil
}

// RewriteStore closes an embedded store, rewrites its file into a fresh one holding only live records
// (boltstore.Compact: bbolt never clears a freed page, so an overwritten secret would stay in the file) and opens it
// again from spec and dataDir, as OpenStore does. It returns the store to use from now on (nil, with store
// untouched, for a Redis store, which has no freed pages in a file: see docs/operations.md for its dumps). store
// must not be in use by anything else: it is closed. On error the store it returns, if any, is closed too.
func RewriteStore(ctx context.Context, store Store, spec, dataDir string) (Store, error) {
	bs, ok := store.(*boltstore.Store)
	if !ok {
		return nil, nil
	}
	path := bs.Path()
	if err := bs.Close(); err != nil {
		return store, fmt.Errorf("rewrite store: close: %w", err)
	}
	if err := boltstore.Compact(path); err != nil {
		return store, fmt.Errorf("rewrite store: %w", err)
	}
	reopened, _, err := OpenStore(ctx, spec, dataDir)
	if err != nil {
		return store, fmt.Errorf("rewrite store: reopen: %w", err)
	}
	return reopened, nil
}

// checkSecretsAtRest does the checks of Gateway.checkSecretsAtRest on store and returns how many endpoints it sealed.
func checkSecretsAtRest(ctx context.Context, store Store, kr *secrets.Keyring, logger *slog.Logger) (int, error) {
	if kr == nil {
		c, err := secrets.Count(ctx, store, store)
		if err != nil {
			return 0, fmt.Errorf("secrets at rest: %w", err)
		}
		if n := len(c.Sealed); n > 0 {
			ids := slices.Sorted(maps.Keys(c.Sealed))
			return 0, fmt.Errorf("secrets at rest: the store holds endpoint secrets sealed under operator key ids %s: %w",
				strings.Join(ids, ", "), ErrNoKeyring)
		}
		logger.Warn("no operator key: endpoint secrets are stored in plaintext; configure one "+
			"(webhookd secrets new-key) to seal them at rest", "plaintext_secrets", c.Plain)
		return 0, nil
	}
	n, err := secrets.Reseal(ctx, store, store, kr, secrets.SealPlain)
	if err != nil {
		return n, fmt.Errorf("secrets at rest: %w", err)
	}
	if n > 0 {
		logger.Info("sealed plaintext endpoint secrets under the operator key", "endpoints", n, "key_id", kr.CurrentID())
	}
	return n, nil
}

func secretsMode(kr *secrets.Keyring) string {
	if kr == nil {
		return "plaintext"
	}
	return "sealed:" + kr.CurrentID()
}
