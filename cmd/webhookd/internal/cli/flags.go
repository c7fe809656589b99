package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// envName maps a flag name to its environment variable: allow-private-endpoints → WEBHOOKD_ALLOW_PRIVATE_ENDPOINTS.
func envName(flagName string) string {
	return "WEBHOOKD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a FlagSet whose usage lists every flag with its default and its WEBHOOKD_* variable.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: webhookd %s\n\n%s\n\nflags (each also read from the environment variable shown):\n", name, synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = `""`
			}
			fmt.Fprintf(out, "  --%s\n        %s (default %s; env %s)\n", f.Name, f.Usage, def, envName(f.Name))
		})
	}
	return fs
}

// parseWithEnv parses args; a flag not given on the command line takes its WEBHOOKD_* variable when set.
// Command-line flags win over the environment.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return err
}

func lookupEnv(name string) string { v, _ := os.LookupEnv(name); return v }
