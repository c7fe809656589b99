package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// envName maps a flag name to its environment variable: allow-private-endpoints → WEBHOOKD_ALLOW_PRIVATE_ENDPOINTS.
func envName(flagName string) string {
	return "WEBHOOKD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a FlagSet whose usage, written to out (standard output), lists every flag with its default and
// its WEBHOOKD_* variable. Parse it with parseWithEnv, which prints the usage only for -h and turns the flag
// package's errors into one line.
func newFlagSet(name, synopsis string, out io.Writer) *flag.FlagSet {
	return newFlagSetEnv(name, synopsis, out, envName)
}

// newFlagSetEnv is newFlagSet with the environment variable of each flag named by env.
func newFlagSetEnv(name, synopsis string, out io.Writer, env func(flagName string) string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: webhookd %s\n\n%s\n\nflags (each also read from the environment variable shown):\n", name, synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := f.DefValue
			if def == "" {
				def = `""`
			}
			fmt.Fprintf(out, "  --%s\n        %s (default %s; env %s)\n", f.Name, f.Usage, def, env(f.Name))
		})
	}
	return fs
}

// parseWithEnv parses args; a flag not given on the command line takes its WEBHOOKD_* variable when set.
// Command-line flags win over the environment. On -h it prints the usage (once) and returns flag.ErrHelp.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	return parseWithEnvNamed(fs, args, envName)
}

// parseWithEnvNamed is parseWithEnv with the environment variable of each flag named by env.
func parseWithEnvNamed(fs *flag.FlagSet, args []string, env func(flagName string) string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(env(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q (for --%s): %w", env(f.Name), v, f.Name, e)
			}
		}
	})
	return err
}

// parseFlags parses args with fs. The flag package prints nothing: on -h, fs.Usage is called once and
// flag.ErrHelp returned; any other error comes back as one line naming the flag with its dashes, and for an
// unknown flag the closest known one.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		if usage != nil {
			usage()
		}
		return err
	case err != nil:
		return flagError(fs, err)
	}
	return nil
}

var (
	undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	namedFlag     = regexp.MustCompile(`(for (?:flag )?|argument: |flag )-([A-Za-z0-9][A-Za-z0-9_-]*)`)
)

// flagError rewrites an error of the flag package: "unknown flag --tokn (did you mean --token?)", and "--name"
// rather than "-name" elsewhere.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := undefinedFlag.FindStringSubmatch(msg); m != nil {
		msg = "unknown flag " + dashes(m[1])
		if s := closestFlag(fs, m[1]); s != "" {
			msg += " (did you mean " + dashes(s) + "?)"
		}
		return errors.New(msg)
	}
	msg = namedFlag.ReplaceAllStringFunc(msg, func(s string) string {
		m := namedFlag.FindStringSubmatch(s)
		return m[1] + dashes(m[2])
	})
	return errors.New(msg)
}

// dashes writes a flag name as one types it: -q, --token.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// closestFlag returns the flag of fs nearest to name, or "" when none is near enough to be what was meant.
func closestFlag(fs *flag.FlagSet, name string) string {
	name, _, _ = strings.Cut(name, "=")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return closest(name, names)
}

// closest returns the candidate nearest to s by edit distance (a candidate that s starts, or that starts s, wins),
// or "" when the nearest differs in more than a third of its letters.
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(s, c)
		if len(s) >= 3 && (strings.HasPrefix(c, s) || strings.HasPrefix(s, c)) {
			d = min(d, 1)
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(1, len(best)/3) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func lookupEnv(name string) string { v, _ := os.LookupEnv(name); return v }
