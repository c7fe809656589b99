package cli

// The API client commands (tenants, tokens, events, endpoints, deliveries) share what is in this file: the connection
// flags, the token lookup, the API client (package client), flag parsing that allows flags after arguments, and
// table output. Each noun's verbs are in client_<noun>.go.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	apiclient "github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/wire"
)

// DefaultTokenFile is where the client looks for a token when none is given: the file `webhookd serve` creates in its
// default data directory, relative to the working directory.
var DefaultTokenFile = filepath.Join("data", "operator-token")

// clientEnv are the client flags that also come from the environment; every other client flag is command-line only.
var clientEnv = []string{"url", "token", "token-file", "tenant"}

// client is one client command's connection and output settings.
type client struct {
	base      string
	token     string
	tokenFile string
	tenant    string
	tokenFrom string // where the token came from, for the message of a 401
	asJSON    bool
	quiet     bool
	stdio     IO
	http      *http.Client
	api       *apiclient.Client // set once the flags are parsed
	raw       []byte            // the last answer of the API as it came, for --json
}

// verb is one subcommand of a client noun: "endpoints create". setup declares its flags on fs and returns the work,
// which gets the positional arguments.
type verb struct {
	name     string
	args     string // synopsis of the positional arguments, e.g. "ENDPOINT_ID"
	summary  string
	nargs    [2]int // positional arguments: at least nargs[0], at most nargs[1] (-1: no limit)
	tenant   bool   // needs --tenant
	setup    func(fs *flag.FlagSet, c *client) func(ctx context.Context, args []string) error
	longHelp string
}

// removeVerb is a verb that ends one object of the tenant by id (delete, revoke) and says so in one line, unless
// --json or -q asks for silence: do is the client's method, done the past tense it prints.
func removeVerb(name, args, summary, done string, do func(*apiclient.Client) func(ctx context.Context, tenant, id string) error) verb {
	return verb{
		name: name, args: args, summary: summary, nargs: [2]int{1, 1}, tenant: true,
		setup: func(_ *flag.FlagSet, c *client) func(context.Context, []string) error {
			return func(ctx context.Context, args []string) error {
				if err := do(c.api)(ctx, c.tenant, args[0]); err != nil {
					return err
				}
				if !c.asJSON && !c.quiet {
					c.lines(done + " " + args[0])
				}
				return nil
			}
		},
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// runNoun returns the run function of a client noun with these verbs.
func runNoun(noun, summary string, verbs []verb) func(ctx context.Context, args []string, stdio IO) int {
	return func(ctx context.Context, args []string, stdio IO) int {
		if len(args) == 0 {
			nounUsage(stdio.Err, noun, summary, verbs)
			return 2
		}
		if isHelp(args[0]) {
			nounUsage(stdio.Out, noun, summary, verbs)
			return 0
		}
		i := slices.IndexFunc(verbs, func(v verb) bool { return v.name == args[0] })
		names := make([]string, len(verbs))
		for i, v := range verbs {
			names[i] = v.name
		}
		if i < 0 && strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stdio.Err, "webhookd %s: want a subcommand before the flags: %s\nRun 'webhookd %s -h' for usage.\n",
				noun, strings.Join(names, ", "), noun)
			return 2
		}
		if i < 0 {
			fmt.Fprintf(stdio.Err, "webhookd %s: unknown subcommand %q%s; want one of: %s\nRun 'webhookd %s -h' for usage.\n",
				noun, args[0], didYouMean(args[0], names), strings.Join(names, ", "), noun)
			return 2
		}
		return runVerb(ctx, noun, verbs[i], args[1:], stdio)
	}
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "-help" || s == "help" }

func runVerb(ctx context.Context, noun string, v verb, args []string, stdio IO) int {
	name := noun + " " + v.name
	c := &client{stdio: stdio, http: &http.Client{Timeout: time.Minute}}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.base, "url", "http://127.0.0.1:8080", "base URL of the webhookd API")
	fs.StringVar(&c.token, "token", "", "bearer token: the operator token or a tenant token (wht_…)")
	fs.StringVar(&c.tokenFile, "token-file", "", "file holding the token, read when --token is empty")
	if v.tenant {
		fs.StringVar(&c.tenant, "tenant", "", "the tenant's id (required)")
	}
	fs.BoolVar(&c.asJSON, "json", false, "print the API's JSON answer instead of a table")
	fs.BoolVar(&c.quiet, "q", false, "print only ids (or the key, or the token), one per line")
	run := v.setup(fs, c)
	fs.Usage = func() { verbUsage(stdio.Out, noun, v, fs) }

	pos, err := parseInterleaved(fs, args)
	onCmdline := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCmdline[f.Name] = true })
	if err == nil {
		err = applyEnv(fs)
	}
	switch {
	case errors.Is(err, flag.ErrHelp): // parseInterleaved printed the usage
		return 0
	case err != nil:
		fmt.Fprintf(stdio.Err, "webhookd %s: %v\nRun 'webhookd %s -h' for usage.\n", name, err, name)
		return 2
	case len(pos) < v.nargs[0] || (v.nargs[1] >= 0 && len(pos) > v.nargs[1]):
		fmt.Fprintf(stdio.Err, "webhookd %s: want %s, got %d argument(s)\nRun 'webhookd %s -h' for usage.\n",
			name, cmp.Or(v.args, "no arguments"), len(pos), name)
		return 2
	case v.tenant && c.tenant == "":
		fmt.Fprintf(stdio.Err, "webhookd %s: --tenant (or WEBHOOKD_TENANT) is required\n", name)
		return 2
	}
	switch {
	case onCmdline["token"]:
		c.tokenFrom = "--token"
	case c.token != "":
		c.tokenFrom = envName("token")
	default:
		fileFrom := "--token-file"
		if !onCmdline["token-file"] {
			fileFrom = envName("token-file")
		}
		if c.token, c.tokenFrom, err = findToken(c.tokenFile, fileFrom); err != nil {
			fmt.Fprintf(stdio.Err, "webhookd %s: %v\n", name, err)
			return 2
		}
	}
	if c.base, err = baseURL(c.base); err != nil {
		fmt.Fprintf(stdio.Err, "webhookd %s: %v\n", name, err)
		return 2
	}
	c.api = apiclient.New(c.base, c.token, apiclient.WithHTTPClient(c.http),
		apiclient.WithRawAnswers(func(b []byte) { c.raw = b }))
	err = run(ctx, pos)
	var (
		ue *usageError
		ae *apiclient.Error
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stdio.Err, "webhookd %s: %v\nRun 'webhookd %s -h' for usage.\n", name, ue, name)
		return 2
	case errors.As(err, &ae):
		fmt.Fprintf(stdio.Err, "error: %s: %s%s\n", printable(ae.Code), printable(ae.Message), printable(c.explain(ae, noun, v, pos)))
		return 1
	case isConnRefused(err):
		fmt.Fprintf(stdio.Err, "error: connection refused: is webhookd serve running at %s? (set --url or %s)\n",
			c.base, envName("url"))
		return 1
	}
	fmt.Fprintf(stdio.Err, "error: %s\n", printable(err.Error()))
	return 1
}

// explain adds to an API error what the answer alone cannot say: where a refused token came from, what was not
// found.
func (c *client) explain(ae *apiclient.Error, noun string, v verb, pos []string) string {
	switch {
	case ae.Status == http.StatusUnauthorized:
		return fmt.Sprintf(" (the token came from %s and was sent to %s)", c.tokenFrom, c.base)
	case ae.Code == wire.CodeNotFound && ae.Message == "no such route":
		return fmt.Sprintf(" (is %s webhookd's API? --url is the server's address; the client adds /v1)", c.base)
	case ae.Code == wire.CodeNotFound:
		var what []string
		// The first argument is what was looked for when it is an id or a name (not, say, create's URL).
		if thing := nounThing[noun]; thing != "" && len(pos) > 0 && (strings.Contains(v.args, "ID") || v.args == "[NAME]") {
			what = append(what, thing+" "+pos[0])
		}
		if c.tenant != "" {
			what = append(what, "tenant "+c.tenant)
		}
		if len(what) > 0 {
			return " (looked for " + strings.Join(what, " of ") + ")"
		}
	}
	return ""
}

// nounThing names what a noun's first argument is, for "not found".
var nounThing = map[string]string{
	"tenants": "tenant", "tokens": "token", "endpoints": "endpoint", "deliveries": "delivery", "events": "event type",
}

// isConnRefused reports whether err is a refused connection: nothing listens at the address.
func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// baseURL checks the --url value and takes off a trailing /v1 (the client adds it to every path).
func baseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("--url %q: want the server's address, e.g. http://127.0.0.1:8080", raw)
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), "/v1")
	return strings.TrimRight(u.String(), "/"), nil
}

// parseInterleaved parses flags wherever they are among the arguments ("endpoints create URL --events x" works) and
// returns the positional arguments; everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return pos, nil
}

// applyEnv gives the connection flags not set on the command line their WEBHOOKD_* variable.
func applyEnv(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range clientEnv {
		if set[name] || fs.Lookup(name) == nil {
			continue
		}
		if v, ok := os.LookupEnv(envName(name)); ok && v != "" {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s=%q: %w", envName(name), v, err)
			}
		}
	}
	return nil
}

// findToken returns the token when --token and WEBHOOKD_TOKEN are empty, and where it came from: the named file if
// any (fileFrom names the flag or variable that named it), else WEBHOOKD_OPERATOR_TOKEN, else the operator-token
// file of serve's data directory (WEBHOOKD_DATA, by default DefaultTokenFile) when it exists.
func findToken(file, fileFrom string) (tok, from string, err error) {
	if file != "" {
		tok, err := readToken(file)
		return tok, fileFrom + " " + file, err
	}
	if v := strings.TrimSpace(os.Getenv("WEBHOOKD_OPERATOR_TOKEN")); v != "" {
		return v, "WEBHOOKD_OPERATOR_TOKEN", nil
	}
	file = DefaultTokenFile
	if d := lookupEnv(envName("data")); d != "" {
		file = filepath.Join(d, filepath.Base(DefaultTokenFile))
	}
	tok, err = readToken(file)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("no token: pass --token or --token-file, set WEBHOOKD_TOKEN, or run where %s is", file)
	}
	return tok, "the file " + file, err
}

func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", file)
	}
	return tok, nil
}

func nounUsage(w io.Writer, noun, summary string, verbs []verb) {
	fmt.Fprintf(w, "usage: webhookd %s <subcommand> [flags] [arguments]\n\n%s\n\nsubcommands:\n", noun, summary)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range verbs {
		fmt.Fprintf(tw, "  %s %s\t%s\n", v.name, v.args, v.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun 'webhookd %s <subcommand> -h' for its flags. Every subcommand takes --url and --token (or\n"+
		"WEBHOOKD_URL and WEBHOOKD_TOKEN); without a token it reads --token-file, WEBHOOKD_OPERATOR_TOKEN, or %s.\n",
		noun, DefaultTokenFile)
}

func verbUsage(w io.Writer, noun string, v verb, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: webhookd %s %s [flags] %s\n\n%s\n", noun, v.name, v.args, v.summary)
	if v.longHelp != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(v.longHelp))
	}
	fmt.Fprintln(w, "\nflags (may come before or after the arguments):")
	fs.VisitAll(func(f *flag.Flag) {
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			def = fmt.Sprintf("default %s", f.DefValue)
		}
		if slices.Contains(clientEnv, f.Name) {
			def = strings.TrimPrefix(def+"; env "+envName(f.Name), "; ")
		}
		if def != "" {
			def = " (" + def + ")"
		}
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		fmt.Fprintf(w, "  %s%s\n        %s%s\n", dash, f.Name, f.Usage, def)
	})
}

// rawJSON prints the API's last answer as it came, for --json.
func (c *client) rawJSON() {
	b := bytes.TrimSpace(c.raw)
	if len(b) == 0 {
		return
	}
	c.stdio.Out.Write(append(b, '\n'))
}

// table writes rows aligned in columns; the first row is the header. Every cell goes through printable.
func (c *client) table(rows [][]string) {
	tw := tabwriter.NewWriter(c.stdio.Out, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		for i, v := range r {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			io.WriteString(tw, printable(v))
		}
		io.WriteString(tw, "\n")
	}
	tw.Flush()
}

// fields writes name/value pairs, one per line, values aligned (through printable); pairs with an empty value are
// left out.
func (c *client) fields(pairs ...string) {
	tw := tabwriter.NewWriter(c.stdio.Out, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", pairs[i], printable(pairs[i+1]))
		}
	}
	tw.Flush()
}

// lines writes one value per line (-q), each through printable.
func (c *client) lines(vs ...string) {
	for _, v := range vs {
		fmt.Fprintln(c.stdio.Out, printable(v))
	}
}

// listPage prints one page of a list route, as fetch got it: the API's JSON as it came (--json), one id per line
// (-q), or a table of header and one row per item; then, on stderr, how to get the next page.
func listPage[T any](c *client, l *wire.List[T], err error, id func(T) string, header []string, row func(T) []string) error {
	if err != nil {
		return err
	}
	switch {
	case c.asJSON:
		c.rawJSON()
	case c.quiet:
		for _, t := range l.Data {
			c.lines(id(t))
		}
	default:
		rows := [][]string{header}
		for _, t := range l.Data {
			rows = append(rows, row(t))
		}
		c.table(rows)
	}
	c.more(l.Next)
	return nil
}

// more tells, on stderr, how to get the next page.
func (c *client) more(next string) {
	if next != "" && !c.quiet {
		fmt.Fprintf(c.stdio.Err, "more: add --after %s\n", printable(next))
	}
}

// when shows an API time to the second; the zero time is empty.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// pageFlags declares --limit and --after and returns the page they select.
func pageFlags(fs *flag.FlagSet) func() apiclient.Page {
	limit := fs.Int("limit", 0, "page size, 1 to 200 (the API's default is 50)")
	after := fs.String("after", "", "the cursor of the next page, as the previous page printed it")
	return func() apiclient.Page { return apiclient.Page{Limit: *limit, After: *after} }
}

// timeArg reads a time flag: RFC 3339, or a duration meaning that long ago ("2h", "30m"). Empty is the zero time.
func timeArg(flagName, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, usagef("--%s %q: want an RFC 3339 time (2026-04-15T12:00:00Z) or a duration ago (2h)", flagName, v)
	}
	return now.Add(-d).UTC(), nil
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// splitList reads "a,b, c" into its non-empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// jsonArg reads a JSON value given on the command line, "-" meaning standard input, "@file" a file.
func (c *client) jsonArg(what, v string) (json.RawMessage, error) {
	var b []byte
	switch {
	case v == "-":
		var err error
		if b, err = io.ReadAll(c.stdio.In); err != nil {
			return nil, fmt.Errorf("read %s from standard input: %w", what, err)
		}
	case strings.HasPrefix(v, "@"):
		var err error
		if b, err = os.ReadFile(v[1:]); err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
	default:
		b = []byte(v)
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, usagef("%s is not valid JSON: %.80s", what, b)
	}
	return b, nil
}
