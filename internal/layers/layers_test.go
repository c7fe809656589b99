package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ranks places every package of the module, by path below the module root: an entry covers the package at that
// path and those under it, unless a longer entry covers them. A package may import only packages of a lower rank,
// so packages of one rank never import each other. A new package the table does not cover fails the test: place it.
var ranks = map[string]int{
	// Leaf helpers: they import no domain package.
	"internal/ids":         0,
	"internal/testredis":   0,
	"internal/layers":      0,
	"internal/jsonschemas": 0,
	"internal/procs":       0, // GOMAXPROCS by load, started by cmd/webhookd
	"internal/jsonscan":    0, // one-pass JSON checks for event data on the publish path; plain-field readers
	"internal/logbuf":      0, // log lines written in batches, set up by cmd/webhookd

	"signing": 1,
	"egress":  1,
	"tenants": 1,
	"wire":    1, // the JSON request and response types of the /v1 API, shared by api and client

	"profiles": 2, // the header-profile registry, above signing

	"endpoints": 3,
	"verifier":  3,

	"delivery":            4,
	"secrets":             4,
	"verifier/redisdedup": 4,
	"calls":               4, // management calls: signs like delivery, beside it

	"events": 5,

	"store/internal": 6, // helpers the store adapters share

	"store/boltstore":  7,
	"store/redisstore": 7,
	"store/storetest":  7,
	"api":              7,
	"client":           7,
	"metrics":          7,
	"console":          7, // the tenant console's page (embedded assets), mounted by gateway beside api
	"tracing":          7, // OpenTelemetry behind delivery.Tracer and the publish middleware, wired by gateway

	"gateway": 8, // the one composition root

	"cmd": 9, // a command may also import the packages under its own directory (cmd/webhookd/internal/cli)
}

// rankOf returns the rank of the longest table entry that is rel or a parent directory of it.
func rankOf(rel string) (rank int, entry string, ok bool) {
	for p := rel; ; p = filepath.ToSlash(filepath.Dir(p)) {
		if r, found := ranks[p]; found {
			return r, p, true
		}
		if !strings.Contains(p, "/") {
			return 0, "", false
		}
	}
}

// allowed reports whether package from may import package to, both relative to the module root.
func allowed(from, to string) (bool, string) {
	rf, _, okf := rankOf(from)
	rt, _, okt := rankOf(to)
	switch {
	case !okf:
		return false, from + " is not in the rank table"
	case !okt:
		return false, to + " is not in the rank table"
	case rt < rf:
		return true, ""
	case strings.HasPrefix(from, "cmd/") && strings.HasPrefix(to, from+"/"):
		return true, "" // a command's own sub-packages
	}
	return false, ""
}

type pkg struct {
	ImportPath string
	Imports    []string // non-test imports only: tests may reach up to build real parts
}

// modulePackages runs go list on the whole module and returns its module path and packages.
func modulePackages(t *testing.T) (string, []pkg) {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" || strings.TrimSpace(string(gomod)) == "/dev/null" {
		t.Fatalf("not in a module: go env GOMOD = %q", gomod)
	}
	mod := exec.Command("go", "list", "-m")
	mod.Dir = root
	modPath, err := mod.Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	list := exec.Command("go", "list", "-json=ImportPath,Imports", "./...")
	list.Dir = root
	var stderr bytes.Buffer
	list.Stderr = &stderr
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list's output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	return strings.TrimSpace(string(modPath)), pkgs
}

// TestImportsGoDown checks every non-test import between the module's packages against the rank table.
func TestImportsGoDown(t *testing.T) {
	modPath, pkgs := modulePackages(t)
	rel := func(p string) (string, bool) { return strings.CutPrefix(p, modPath+"/") }
	for _, p := range pkgs {
		from, ok := rel(p.ImportPath)
		if !ok {
			t.Errorf("package %s is at the module root: place it in a directory the rank table covers", p.ImportPath)
			continue
		}
		if _, _, ok := rankOf(from); !ok {
			t.Errorf("package %s is not in the rank table of internal/layers/layers_test.go: give it a rank", from)
			continue
		}
		for _, imp := range p.Imports {
			to, ok := rel(imp)
			if !ok {
				continue // the standard library and other modules
			}
			if ok, why := allowed(from, to); !ok {
				rf, ef, _ := rankOf(from)
				rt, et, _ := rankOf(to)
				if why == "" {
					why = "a package may import only lower ranks"
				}
				t.Errorf("%s (rank %d, as %s) imports %s (rank %d, as %s): %s", from, rf, ef, to, rt, et, why)
			}
		}
	}
}

// TestRules checks the checker on imports it must refuse and allow, so a broken rule cannot pass the tree silently.
func TestRules(t *testing.T) {
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{"signing", "internal/ids", true},
		{"internal/ids", "signing", false}, // a leaf helper importing a domain package
		{"verifier", "verifier/redisdedup", false},
		{"verifier/redisdedup", "verifier", true},
		{"store/boltstore", "store/internal/msgjson", true},
		{"store/boltstore", "store/redisstore", false}, // one rank
		{"api", "client", false},
		{"client", "wire", true},
		{"gateway", "api", true},
		{"api", "gateway", false},
		{"cmd/webhookd", "cmd/webhookd/internal/cli", true},
		{"cmd/webhookd/internal/cli", "cmd/webhookd", false},
		{"cmd/webhookd-bench", "cmd/webhookd/internal/cli", false},
		{"cmd/webhookd", "gateway", true},
		{"delivery", "newpkg", false}, // not placed
		{"newpkg", "signing", false},
	} {
		if got, _ := allowed(c.from, c.to); got != c.ok {
			t.Errorf("allowed(%s → %s) = %v, want %v", c.from, c.to, got, c.ok)
		}
	}
	if _, entry, _ := rankOf("store/internal/msgjson"); entry != "store/internal" {
		t.Errorf("store/internal/msgjson is ranked by %q, want store/internal", entry)
	}
	if _, entry, _ := rankOf("cmd/webhookd/internal/cli"); entry != "cmd" {
		t.Errorf("cmd/webhookd/internal/cli is ranked by %q, want cmd", entry)
	}
}
