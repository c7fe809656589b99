package main

import (
	"fmt"
	"slices"
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

// The ordered scenario is section 7 of the page: its pairs' rows when it ran, with the slowdown's verdict and the
// violations, and "not run" otherwise; a full run includes it by default, a quick one only when asked.
func TestOrderedSection(t *testing.T) {
	run := func(rate float64, violations int64) *runResult {
		return &runResult{spec: runSpec{store: "embedded", label: "x"}, expected: 100, delivered: 100,
			deliveryRate: rate, violations: violations}
	}
	rep := &results{scenario: map[string]bool{"ordered": true}, ordered: []orderedPair{
		{store: "embedded", endpoints: 1, keyless: run(1000, 0), keyed: run(900, 0)},
		{store: "redis", endpoints: 10, failPerMille: 100, keyless: run(1000, 3), keyed: run(800, 2)},
	}}
	got := rep.tables()
	for _, want := range []string{
		"### 7. Ordered deliveries",
		"| embedded | 1 | 0 % | 1,000 | 900 | 10.0 % | PASS | 0 | 0 |",
		"| redis | 10 | 10 % | 1,000 | 800 | 20.0 % | MISS | 2 MISS | 3 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("tables lack %q:\n%s", want, got)
		}
	}
	if got := (&results{scenario: map[string]bool{}}).tables(); !strings.Contains(got, "### 7. Ordered deliveries\n\n_Not run._") {
		t.Errorf("a run without the scenario does not say so:\n%s", got)
	}

	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--quick"}, false},
		{[]string{"--quick", "--scenarios", "ordered"}, true},
		{[]string{"--scenarios", "steady"}, false},
	} {
		o, err := parseFlags(c.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(o.scenarios, "ordered"); got != c.want {
			t.Errorf("parseFlags(%q): ordered in %v = %v, want %v", c.args, o.scenarios, got, c.want)
		}
	}
}
