package profiles

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/webhookd/webhookd/signing"
)

// Errors of the registry.
var (
	// ErrUnknown: no profile of that name is registered.
	ErrUnknown = errors.New("unknown profile")
	// ErrRegistered: Register was given a name already taken, or an invalid one.
	ErrRegistered = errors.New("profile cannot be registered")
)

// registry is an immutable snapshot; Register swaps in a new one, so lookups take no lock.
type registry struct {
	byName map[string]Profile
	all    []Profile // the default first, then by name
}

var (
	current atomic.Pointer[registry]
	writeMu sync.Mutex
)

// Register adds p to the registry. The name must be new, of lower case letters, digits, '-' and '_'; the profile
// must sign with at least one algorithm and declare a lower-case header prefix. Register is meant for start-up (an
// init function); a profile cannot be removed.
func Register(p Profile) error {
	name := p.Name()
	switch prefix := p.HeaderPrefix(); {
	case !validName(name):
		return fmt.Errorf("%w: name %q: want lower case letters, digits, '-' and '_'", ErrRegistered, name)
	case len(p.Algorithms()) == 0:
		return fmt.Errorf("%w: %s signs with no algorithm", ErrRegistered, name)
	case prefix == "" || prefix != strings.ToLower(prefix):
		return fmt.Errorf("%w: %s: header prefix %q is not lower case", ErrRegistered, name, prefix)
	}
	writeMu.Lock()
	defer writeMu.Unlock()
	old := current.Load()
	next := &registry{byName: make(map[string]Profile)}
	if old != nil {
		if _, dup := old.byName[name]; dup {
			return fmt.Errorf("%w: %q is already registered", ErrRegistered, name)
		}
		for n, q := range old.byName {
			next.byName[n] = q
		}
		next.all = slices.Clone(old.all)
	}
	next.byName[name] = p
	next.all = append(next.all, p)
	slices.SortStableFunc(next.all, func(a, b Profile) int {
		switch {
		case a.Name() == b.Name():
			return 0
		case a.Name() == Default().Name():
			return -1
		case b.Name() == Default().Name():
			return 1
		}
		return strings.Compare(a.Name(), b.Name())
	})
	current.Store(next)
	return nil
}

// mustRegister registers a built-in profile.
func mustRegister(p Profile) {
	if err := Register(p); err != nil {
		panic(err)
	}
}

// Default is the profile of an endpoint or verifier that names none: Standard.
func Default() Profile { return Standard }

// Lookup returns the profile registered under name; "" means Default. An unknown name is an error wrapping
// ErrUnknown that lists the registered names.
func Lookup(name string) (Profile, error) {
	if name == "" {
		return Default(), nil
	}
	if r := current.Load(); r != nil {
		if p, ok := r.byName[name]; ok {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (want %s)", ErrUnknown, name, Names())
}

// All returns every registered profile, the default first, then by name.
func All() []Profile {
	r := current.Load()
	if r == nil {
		return nil
	}
	return slices.Clone(r.all)
}

// Names returns the registered names for a message: "standard, mender or openmdm".
func Names() string {
	all := All()
	var b strings.Builder
	for i, p := range all {
		switch {
		case i == 0:
		case i == len(all)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(p.Name())
	}
	return b.String()
}

// Supports reports whether p signs with alg.
func Supports(p Profile, alg signing.Algorithm) bool { return slices.Contains(p.Algorithms(), alg) }

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
