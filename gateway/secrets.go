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
)

// ErrNoKeyring is returned by New when the store holds endpoint secrets sealed under operator keys and
// Config.Keyring is nil: they could not be opened.
var ErrNoKeyring = errors.New("no operator keyring configured")

// checkSecretsAtRest runs at start. Without a keyring it refuses a store holding sealed secrets (ErrNoKeyring) and
// warns that secrets are kept in plaintext. With one, it opens every sealed secret (a missing or wrong key fails the
// start now, naming the endpoint, rather than every delivery later) and seals those still in plaintext.
func checkSecretsAtRest(ctx context.Context, store Store, kr *secrets.Keyring, logger *slog.Logger) error {
	if kr == nil {
		c, err := secrets.Count(ctx, store, store)
		if err != nil {
			return fmt.Errorf("secrets at rest: %w", err)
		}
		if n := len(c.Sealed); n > 0 {
			ids := slices.Sorted(maps.Keys(c.Sealed))
			return fmt.Errorf("secrets at rest: the store holds endpoint secrets sealed under operator key ids %s: %w",
				strings.Join(ids, ", "), ErrNoKeyring)
		}
		logger.Warn("no operator key: endpoint secrets are stored in plaintext; configure one "+
			"(webhookd secrets new-key) to seal them at rest", "plaintext_secrets", c.Plain)
		return nil
	}
	n, err := secrets.Reseal(ctx, store, store, kr, secrets.SealPlain)
	if err != nil {
		return fmt.Errorf("secrets at rest: %w", err)
	}
	if n > 0 {
		logger.Info("sealed plaintext endpoint secrets under the operator key", "endpoints", n, "key_id", kr.CurrentID())
	}
	return nil
}

func secretsMode(kr *secrets.Keyring) string {
	if kr == nil {
		return "plaintext"
	}
	return "sealed:" + kr.CurrentID()
}
