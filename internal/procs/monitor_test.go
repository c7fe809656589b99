package procs

import (
	"slices"
	"testing"
)

func TestMonitorEnv(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want []string // nil: left alone
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + MonitorSetting}},
		{"other settings kept", []string{"GODEBUG=madvdontneed=1", "A=1"},
			[]string{"A=1", "GODEBUG=madvdontneed=1," + MonitorSetting}},
		{"the first GODEBUG is the runtime's", []string{"GODEBUG=x=1", "GODEBUG=y=2"},
			[]string{"GODEBUG=x=1," + MonitorSetting}},
		{"schedtrace set by the operator", []string{"GODEBUG=gctrace=1,schedtrace=1000"}, nil},
		{"after the exec", []string{"A=1", "GODEBUG=" + MonitorSetting}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, changed := monitorEnv(c.env)
			if c.want == nil {
				if changed || !slices.Equal(got, c.env) {
					t.Fatalf("monitorEnv(%q) = %q, %v; want it left alone", c.env, got, changed)
				}
				return
			}
			if !changed || !slices.Equal(got, c.want) {
				t.Fatalf("monitorEnv(%q) = %q, %v; want %q, true", c.env, got, changed, c.want)
			}
		})
	}
}
