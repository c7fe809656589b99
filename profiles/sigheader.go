package profiles

import (
	"fmt"
	"strings"
)

// signature is one "<version>,<value>" entry of a webhook-signature header, value still encoded.
type signature struct {
	version, value string
}

// maxSignatures bounds the entries parsed from one header: a sender signs with a handful of keys, and the verifier
// does work per entry and key.
const maxSignatures = 32

// parseSignatureHeader splits a webhook-signature header into its entries: space-separated (runs of spaces are
// tolerated), each "<version>,<value>" with both parts non-empty. Entries without that shape are skipped, as the
// reference libraries do; a header with no well-formed entry at all is malformed. Versions are not interpreted here.
func parseSignatureHeader(h string) ([]signature, error) {
	var sigs []signature
	skipped := 0
	for field := range strings.FieldsSeq(h) {
		version, value, ok := strings.Cut(field, ",")
		if !ok || version == "" || value == "" {
			skipped++
			continue
		}
		if len(sigs) == maxSignatures {
			return nil, fmt.Errorf("%w: more than %d signatures", ErrMalformedHeader, maxSignatures)
		}
		sigs = append(sigs, signature{version, value})
	}
	if len(sigs) == 0 {
		return nil, fmt.Errorf("%w: no \"<version>,<signature>\" entry (%d other field(s))", ErrMalformedHeader, skipped)
	}
	return sigs, nil
}
