package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/signing"
)

func init() {
	register("keys", "generate signing keys (keys new)", runKeys)
}

const keysUsage = `usage: webhookd keys new [--kind hmac|ed25519] [--profile standard|openmdm|mender] [--json]

Prints a fresh key in the profile's form:
  standard, hmac     a whsec_ secret, shared by webhookd and the receiver
  standard, ed25519  the whsk_ signing key (webhookd keeps it) on the first line and the
                     whpk_ public key (for receivers) on the second
  openmdm, hmac      a random secret string
  mender, hmac       a hex secret
With --json: {"profile", "kind", "secret", "public"}, public only for ed25519.

flags:
`

func runKeys(_ context.Context, args []string, stdio IO) int {
	fs := flag.NewFlagSet("keys new", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(stdio.Out, keysUsage)
		fs.SetOutput(stdio.Out)
		fs.PrintDefaults()
	}
	switch {
	case len(args) > 0 && isHelp(args[0]):
		fs.Usage()
		return 0
	case len(args) == 0:
		fmt.Fprintln(stdio.Err, "webhookd keys: want a subcommand: new\nRun 'webhookd keys -h' for usage.")
		return 2
	case args[0] != "new":
		fmt.Fprintf(stdio.Err, "webhookd keys: unknown subcommand %q; want: new\nRun 'webhookd keys -h' for usage.\n", args[0])
		return 2
	}
	kind := fs.String("kind", "hmac", "hmac or ed25519 (ed25519: standard profile only)")
	profile := fs.String("profile", profiles.Default().Name(), profiles.Names())
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stdio.Err, "webhookd keys new: %v\nRun 'webhookd keys -h' for usage.\n", err)
		return 2
	}
	usageErr := func(err error) int {
		fmt.Fprintf(stdio.Err, "webhookd keys new: %v\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	alg, err := signing.ParseAlgorithm(*kind)
	if err != nil {
		return usageErr(err)
	}
	p, err := profiles.Lookup(*profile)
	if err != nil {
		return usageErr(err)
	}
	secret, public, err := p.GenerateKey(alg)
	if err != nil {
		if errors.Is(err, signing.ErrAlgorithm) {
			return usageErr(err)
		}
		fmt.Fprintf(stdio.Err, "webhookd keys new: %v\n", err)
		return 1
	}
	if *asJSON {
		out, _ := json.Marshal(struct {
			Profile string `json:"profile"`
			Kind    string `json:"kind"`
			Secret  string `json:"secret"`
			Public  string `json:"public,omitempty"`
		}{p.Name(), alg.String(), secret, public})
		fmt.Fprintf(stdio.Out, "%s\n", out)
		return 0
	}
	fmt.Fprintln(stdio.Out, secret)
	if public != "" {
		fmt.Fprintln(stdio.Out, public)
	}
	return 0
}
