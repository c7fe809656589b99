package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/webhookd/webhookd/gateway"
	"github.com/webhookd/webhookd/secrets"
)

func init() {
	register("secrets", "operator keys for endpoint secrets at rest: new-key, status, rotate-key", runSecrets)
}

// The operator keys are read from the environment (or a file), never from a flag, so that they do not show in the
// process list:
//
//	WEBHOOKD_SECRET_KEYS  "kid1:base64,kid2:base64": every key, the first current (seals), the others only open
//	WEBHOOKD_SECRET_KEY   one key, "kid:base64" or bare base64 (its id is then derived from it)
//	--secret-keys-file    a file in the WEBHOOKD_SECRET_KEYS form, one key per line allowed (env WEBHOOKD_SECRET_KEYS_FILE)
//
// At most one of the three may be set.
const (
	envSecretKey  = "WEBHOOKD_SECRET_KEY"
	envSecretKeys = "WEBHOOKD_SECRET_KEYS"
)

// keyringEnvHelp is the part of a command's usage that documents the environment-only variables.
const keyringEnvHelp = `Operator keys (environment only, never flags, so they stay out of the process list):
  ` + envSecretKeys + `  "kid1:base64,kid2:base64": the first seals endpoint secrets at rest, the others only
                        open them (keep the previous key there until 'webhookd secrets rotate-key' has run)
  ` + envSecretKey + `   one key: "kid:base64" or bare base64 of 32 bytes (its id is then derived from it)
Set at most one of them or --secret-keys-file. With none, endpoint secrets are stored in plaintext.`

// loadKeyring returns the operator keyring from the environment or file, or nil when none is configured.
func loadKeyring(file string) (*secrets.Keyring, error) {
	var (
		spec  string
		from  []string
		found bool
	)
	if v, ok := os.LookupEnv(envSecretKeys); ok && strings.TrimSpace(v) != "" {
		spec, found = v, true
		from = append(from, envSecretKeys)
	}
	if v, ok := os.LookupEnv(envSecretKey); ok && strings.TrimSpace(v) != "" {
		if strings.Contains(strings.TrimSpace(v), ",") {
			return nil, fmt.Errorf("%s holds one key; use %s for several", envSecretKey, envSecretKeys)
		}
		spec, found = v, true
		from = append(from, envSecretKey)
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--secret-keys-file: %w", err)
		}
		spec, found = string(b), true
		from = append(from, "--secret-keys-file")
	}
	switch {
	case !found:
		return nil, nil
	case len(from) > 1:
		return nil, fmt.Errorf("operator keys are set by %s: set only one", strings.Join(from, " and "))
	}
	kr, err := secrets.ParseKeyring(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from[0], err)
	}
	return kr, nil
}

func runSecrets(ctx context.Context, args []string, stdio IO) int {
	usage := func(w io.Writer) {
		fmt.Fprintf(w, `usage: webhookd secrets <command> [flags]

commands:
  new-key      print a new operator key ("kid:base64") for %s
  status       count the stored endpoint secrets by how they are kept (plaintext, or the key id that sealed them)
  rotate-key   re-seal every endpoint secret under the current (first) operator key; the gateway must be stopped
               when the store is the embedded one

%s
`, envSecretKeys, keyringEnvHelp)
	}
	if len(args) == 0 {
		usage(stdio.Err)
		return 2
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdio.Out)
		return 0
	case "new-key":
		return runSecretsNewKey(args[1:], stdio)
	case "status", "rotate-key":
		return runSecretsStore(ctx, args[0], args[1:], stdio)
	}
	fmt.Fprintf(stdio.Err, "webhookd secrets: unknown command %q; want new-key, status or rotate-key\n", args[0])
	return 2
}

func runSecretsNewKey(args []string, stdio IO) int {
	var id string
	fs := newFlagSet("secrets new-key [--id ID]", "Prints a new random operator key, \"kid:base64\", for "+envSecretKeys+" or "+envSecretKey+".", stdio.Out)
	fs.StringVar(&id, "id", "", "key id (1 to 32 of [A-Za-z0-9_-]); empty derives one from the key")
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stdio.Err, "webhookd secrets new-key:", err)
		return 2
	}
	k, err := secrets.GenerateKey(id)
	if err != nil {
		fmt.Fprintln(stdio.Err, "webhookd secrets new-key:", err)
		return 2
	}
	fmt.Fprintln(stdio.Out, k)
	return 0
}

// runSecretsStore runs status or rotate-key against the store serve would use.
func runSecretsStore(ctx context.Context, cmd string, args []string, stdio IO) int {
	var cfg serveConfig
	synopsis := map[string]string{
		"status": "Counts the stored endpoint secrets: in plaintext, and sealed under each operator key id.",
		"rotate-key": "Re-seals every endpoint secret under the current (first) operator key, opening those sealed under\n" +
			"older keys with the others. Then the older keys can be dropped. Stop the gateway first when the store is\n" +
			"the embedded one (it holds the file lock); safe to run again.\n\n" + keyringEnvHelp,
	}[cmd]
	fs := newFlagSet("secrets "+cmd+" [flags]", synopsis, stdio.Out)
	fs.StringVar(&cfg.Data, "data", "./data", "directory of the embedded store")
	fs.StringVar(&cfg.Store, "store", "", "storage, as for serve: empty for the embedded store under --data, or a redis:// URL")
	fs.StringVar(&cfg.SecretKeysFile, "secret-keys-file", "", "file holding the operator keys, as "+envSecretKeys)
	if err := parseWithEnv(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stdio.Err, "webhookd secrets %s: %v\n", cmd, err)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stdio.Err, "webhookd secrets %s: %v\n", cmd, err)
		return 1
	}
	kr, err := loadKeyring(cfg.SecretKeysFile)
	if err != nil {
		return fail(err)
	}
	if cmd == "rotate-key" && kr == nil {
		fmt.Fprintf(stdio.Err, "webhookd secrets rotate-key: no operator key: set %s (new key first, then the old ones)\n", envSecretKeys)
		return 2
	}
	store, where, err := gateway.OpenStore(ctx, cfg.Store, cfg.Data)
	if err != nil {
		return fail(fmt.Errorf("open store: %w", err))
	}
	defer func() { store.Close() }()

	if cmd == "rotate-key" {
		n, err := secrets.Reseal(ctx, store, store, kr, secrets.SealAll)
		if err != nil {
			return fail(fmt.Errorf("after re-sealing %d endpoints: %w", n, err))
		}
		fmt.Fprintf(stdio.Out, "re-sealed the secrets of %d endpoints under key %s (%s)\n", n, kr.CurrentID(), where)
		// bbolt keeps overwritten values in freed pages: rewrite the embedded store into a fresh file so that no
		// copy sealed under an older key (or in the clear) is left in it. Every run does it, so a run that stopped
		// after re-sealing is completed by the next.
		rewritten, err := gateway.RewriteStore(ctx, store, cfg.Store, cfg.Data)
		if rewritten != nil {
			store = rewritten
		}
		if err != nil {
			return fail(err)
		}
		if rewritten != nil {
			fmt.Fprintf(stdio.Out, "rewrote %s into a fresh file: no freed page keeps an older copy of a secret\n", where)
		}
	}
	c, err := secrets.Count(ctx, store, store)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdio.Out, "%d endpoints; secrets in plaintext: %d", c.Endpoints, c.Plain)
	ids := make([]string, 0, len(c.Sealed))
	for id := range c.Sealed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		note := ""
		switch {
		case kr == nil || !kr.Has(id):
			note = " (key not configured)"
		case id == kr.CurrentID():
			note = " (current)"
		}
		fmt.Fprintf(stdio.Out, "; sealed under %s%s: %d", id, note, c.Sealed[id])
	}
	fmt.Fprintln(stdio.Out)
	return 0
}
