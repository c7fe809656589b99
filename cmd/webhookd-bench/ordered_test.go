package main

import (
	"fmt"
	"strings"
	"testing"
)

// The ordered body carries its key and sequence, with ordering_key only when keys are on; the receiver counts a first
// arrival out of its key's sequence, and not a repeat.
func TestOrderedBodyAndCheck(t *testing.T) {
	keyed, keyless := newOrderedBody(orderedKeys), newOrderedBody(0)
	b := keyed.append(nil, orderedKeys+7)
	if k, _ := intAfter(b, `"k":`); k != 7 {
		t.Fatalf("key %d in %.80s", k, b)
	}
	if s, _ := intAfter(b, `"s":`); s != 1 {
		t.Fatalf("sequence %d in %.80s", s, b)
	}
	if !strings.Contains(string(b), `"ordering_key":"k7"`) || strings.Contains(string(keyless.append(nil, 7)), "ordering_key") {
		t.Fatalf("ordering_key wrong: %.80s", b)
	}
	r := &receiver{}
	data := func(k, s int) []byte { return fmt.Appendf(nil, `{"data":{"k":%d,"s":%d,"pad":"x"}}`, k, s) }
	r.checkOrder(0, "m0", data(1, 0))
	r.checkOrder(0, "m2", data(1, 2)) // 1 has not arrived: a violation
	r.checkOrder(0, "m2", data(1, 2)) // a repeat: not counted again
	r.checkOrder(1, "m0", data(1, 0)) // another endpoint has its own sequence
	if v := r.violations.Load(); v != 1 {
		t.Fatalf("violations = %d, want 1", v)
	}
}
