package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/webhookd/webhookd/profiles"
	"github.com/webhookd/webhookd/verifier"
)

func init() {
	register("verify", "check a webhook request's signature against trusted keys", runVerify)
}

const verifyUsage = `usage: webhookd verify --key KEY [--key KEY ...] [flags]

Checks a received webhook request's signature, as a receiver would, and says which
signature matched which key (by position, never the key itself) or why none did.

Input: --headers FILE holds the request's headers as "Name: value" lines (as curl -D
writes them; a leading status or request line is skipped), and --body FILE holds the
raw body. Without --headers, the --body input is the whole request: headers, a blank
line, then the body. "-" means standard input.

Exit status: 0 verified, 1 not verified, 2 usage error.

flags:
`

// stringsFlag collects a repeated flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return fmt.Sprint(len(*s), " value(s)") } // never the values: keys
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func runVerify(_ context.Context, args []string, stdio IO) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(stdio.Out, verifyUsage)
		fs.SetOutput(stdio.Out)
		fs.PrintDefaults()
	}
	var keys stringsFlag
	fs.Var(&keys, "key", "a trusted key; repeat for several (standard: whsec_… or whpk_…; openmdm: the secret; mender: hex)")
	profile := fs.String("profile", profiles.Default().Name(), "the sender's profile: "+profiles.Names())
	headersPath := fs.String("headers", "", "file of \"Name: value\" header lines, or - for standard input")
	bodyPath := fs.String("body", "-", "file holding the raw body, or - for standard input")
	tolerance := fs.Duration("tolerance", verifier.DefaultTolerance, "how far the timestamp may be from now; for openmdm, setting it turns the timestamp check on")
	noTS := fs.Bool("no-timestamp-check", false, "do not check the timestamp (to inspect an old request)")
	if err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stdio.Err, "webhookd verify: %v\nRun 'webhookd verify -h' for usage.\n", err)
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stdio.Err, "webhookd verify: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if len(keys) == 0 {
		return usageErr("at least one --key is required")
	}
	if *headersPath == "-" && *bodyPath == "-" {
		return usageErr("--headers and --body cannot both be standard input")
	}
	toleranceSet := false
	fs.Visit(func(f *flag.Flag) { toleranceSet = toleranceSet || f.Name == "tolerance" })
	if *tolerance <= 0 {
		return usageErr("--tolerance must be positive")
	}

	cfg := verifier.Config{Profile: *profile, Keys: keys, Tolerance: *tolerance, Dedup: verifier.NoDedup{}}
	switch {
	case *noTS && toleranceSet:
		return usageErr("--tolerance and --no-timestamp-check contradict each other")
	case *noTS:
		cfg.Timestamps = verifier.TimestampSkip
	case toleranceSet && carriesNoTimestamp(*profile):
		return usageErr("the %s profile carries no timestamp; drop --tolerance", *profile)
	case toleranceSet:
		cfg.Timestamps = verifier.TimestampEnforce
	}
	v, err := verifier.New(cfg)
	if err != nil {
		return usageErr("%v", err)
	}

	var h http.Header
	var body []byte
	if *headersPath == "" {
		raw, err := readInput(*bodyPath, stdio.In)
		if err != nil {
			return usageErr("%v", err)
		}
		if h, body, err = splitRequest(raw); err != nil {
			return usageErr("--body %s: %v", *bodyPath, err)
		}
	} else {
		rawHeaders, err := readInput(*headersPath, stdio.In)
		if err != nil {
			return usageErr("%v", err)
		}
		if h, err = parseHeaders(rawHeaders); err != nil {
			return usageErr("--headers %s: %v", *headersPath, err)
		}
		if body, err = readInput(*bodyPath, stdio.In); err != nil {
			return usageErr("%v", err)
		}
	}

	res, err := v.Verify(h, body)
	if err != nil {
		fmt.Fprintf(stdio.Out, "not verified: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdio.Out, "verified: signature #%d (%s) matches --key #%d\n", res.SignatureIndex+1, res.Version, res.KeyIndex+1)
	if res.MessageID != "" {
		fmt.Fprintf(stdio.Out, "message id: %s\n", res.MessageID)
	}
	if !res.Timestamp.IsZero() {
		fmt.Fprintf(stdio.Out, "timestamp: %s (%s ago)\n", res.Timestamp.UTC().Format(time.RFC3339Nano), time.Since(res.Timestamp).Round(time.Second))
	}
	return 0
}

// maxInput bounds what verify reads from one file: far above any webhook body.
const maxInput = 64 << 20

func readInput(path string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		if stdin == nil {
			return nil, errors.New("no standard input")
		}
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxInput {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxInput)
	}
	return b, nil
}

// parseHeaders reads "Name: value" lines. A status line ("HTTP/1.1 200 OK") or request line ("POST /x HTTP/1.1")
// starts a new block, replacing what came before, so that curl -D output with several responses yields the last.
// Blank lines are skipped; a line starting with a space or tab continues the previous value.
func parseHeaders(raw []byte) (http.Header, error) {
	h := http.Header{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), maxInput)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.TrimSpace(line) == "":
			continue
		case isStartLine(line):
			h, last = http.Header{}, ""
			continue
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line with no header before it", n)
			}
			vs := h[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("line %d: want \"Name: value\", got %.60q", n, line)
		}
		last = http.CanonicalHeaderKey(name)
		h[last] = append(h[last], strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(h) == 0 {
		return nil, errors.New("no headers")
	}
	return h, nil
}

// isStartLine reports whether line is an HTTP status line or request line.
func isStartLine(line string) bool {
	if strings.HasPrefix(line, "HTTP/") {
		return true
	}
	f := strings.Fields(line)
	return len(f) == 3 && strings.HasPrefix(f[2], "HTTP/") && !strings.Contains(f[0], ":")
}

// splitRequest splits a whole request dump at the first blank line ("\n\n" or "\r\n\r\n") into headers and the
// exact body bytes.
func splitRequest(raw []byte) (http.Header, []byte, error) {
	for start := 0; start < len(raw); {
		end := bytes.IndexByte(raw[start:], '\n')
		if end < 0 {
			break
		}
		line := bytes.TrimSuffix(raw[start:start+end], []byte("\r"))
		next := start + end + 1
		if len(line) == 0 {
			h, err := parseHeaders(raw[:start])
			return h, raw[next:], err
		}
		start = next
	}
	return nil, nil, errors.New("no blank line between headers and body (or use --headers)")
}

// carriesNoTimestamp reports whether the named profile's requests carry no time to check.
func carriesNoTimestamp(profile string) bool {
	p, err := profiles.Lookup(profile)
	return err == nil && p.Timestamp() == profiles.NoTimestamp
}
