package redisstore

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/webhookd/webhookd/internal/testredis"
)

// Scripts for the combo tests: each answers what it was given, so a reply handed to the wrong call shows.
var (
	comboEcho = newScript(`
redis.call('SET', KEYS[1], table.concat(ARGV, ','))
return table.concat(KEYS, ',') .. '|' .. table.concat(ARGV, ',')`)
	comboNil    = newScript(`if #KEYS ~= 0 or #ARGV ~= 1 then return 'saw ' .. #KEYS .. ' keys' end return nil`)
	comboList   = newScript(`return {#KEYS, #ARGV, ARGV[#ARGV]}`)
	comboBroke  = newScript(`return redis.call('INCR', KEYS[1])`) // an error on a key that holds a string
	comboRefuse = newScript(`return redis.error_reply('REFUSED ' .. ARGV[1])`)
)

// TestComboRunsCallsAsAlone: on a single server, the script calls of one pipeline run as one script, and each call
// gets the reply it would have got alone, nil included, in a single round trip with one script run. The combo also
// survives a server that lost its script cache.
func TestComboRunsCallsAsAlone(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	spy := spyOn(s)
	ctx := t.Context()
	k := func(name string) string { return srv.Prefix + "combo:" + name }
	calls := []scriptCall{
		{comboEcho, []string{k("a")}, []any{"x", 2}},
		{comboNil, nil, []any{"only"}},
		{comboList, []string{k("b"), k("c")}, []any{"p", "q", "r"}},
		{comboEcho, []string{k("d"), k("e")}, []any{"y"}},
	}
	for round, flush := range []bool{false, true} {
		if flush {
			if err := s.rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		n := spy.count()
		cmds, err := s.runScripts(ctx, calls)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got := spy.runsSince(n); !slices.Equal(got, []int{1}) {
			t.Fatalf("round %d: script runs per round trip %v, want one round trip with one", round, got)
		}
		if len(cmds) != len(calls) {
			t.Fatalf("round %d: %d replies for %d calls", round, len(cmds), len(calls))
		}
		if v, err := cmds[0].Text(); err != nil || v != k("a")+"|x,2" {
			t.Errorf("round %d: first echo %q, %v", round, v, err)
		}
		if v, err := cmds[1].Result(); !errors.Is(err, redis.Nil) {
			t.Errorf("round %d: the nil script answered %v, %v; want redis.Nil", round, v, err)
		}
		if v, err := cmds[2].Slice(); err != nil || len(v) != 3 || v[0] != int64(2) || v[1] != int64(3) || v[2] != "r" {
			t.Errorf("round %d: list script %v, %v; want [2 3 r]", round, v, err)
		}
		if v, err := cmds[3].Text(); err != nil || v != k("d")+","+k("e")+"|y" {
			t.Errorf("round %d: second echo %q, %v", round, v, err)
		}
		for key, want := range map[string]string{k("a"): "x,2", k("d"): "y"} {
			if got, err := s.rdb.Get(ctx, key).Result(); err != nil || got != want {
				t.Errorf("round %d: %s holds %q, %v; want %q", round, key, got, err, want)
			}
		}
	}

	// A call that answers an error reply gets it as its error, as alone; the others get their replies.
	cmds, err := s.runScripts(ctx, []scriptCall{
		{comboEcho, []string{k("h")}, []any{"z"}},
		{comboRefuse, nil, []any{"this"}},
	})
	if err == nil || !strings.Contains(err.Error(), "REFUSED this") {
		t.Fatalf("a combo with an error reply: %v, want that error", err)
	}
	if err := cmds[1].Err(); err == nil || !strings.Contains(err.Error(), "REFUSED this") {
		t.Errorf("the refusing call's error: %v", err)
	}
	if v, err := cmds[0].Text(); err != nil || v != k("h")+"|z" {
		t.Errorf("the call beside it: %q, %v", v, err)
	}

	// A call that fails ends the combo there: every call gets the error, and the writes before it stay.
	cmds, err = s.runScripts(ctx, []scriptCall{
		{comboEcho, []string{k("f")}, []any{"before"}},
		{comboBroke, []string{k("f")}, nil},
		{comboEcho, []string{k("g")}, []any{"after"}},
	})
	if err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("a combo with a failing call: %v, want the call's error", err)
	}
	for i, c := range cmds {
		if c.Err() == nil {
			t.Errorf("call %d of the failed combo has no error", i)
		}
	}
	if got, _ := s.rdb.Get(ctx, k("f")).Result(); got != "before" {
		t.Errorf("the write before the failing call: %q, want it kept", got)
	}
	if n, _ := s.rdb.Exists(ctx, k("g")).Result(); n != 0 {
		t.Error("the call after the failing one ran")
	}
}

// TestComboOfEveryScriptLoads: every script of the store compiles inside a combo, all of them in one, so no pipeline
// of any of them meets a combo that Redis refuses (a body too large for a function, a name clash between bodies).
func TestComboOfEveryScriptLoads(t *testing.T) {
	srv := testredis.Start(t)
	s := openOn(t, redisURL(srv), srv.Prefix, Options{})
	defer s.Close()
	var all []*redis.Script
	for sc := range scriptSources {
		all = append(all, sc)
	}
	if len(all) < 20 {
		t.Fatalf("%d scripts recorded, want every script of the store", len(all))
	}
	combo, ok := s.combos.script(all)
	if !ok {
		t.Fatal("no combo for the recorded scripts")
	}
	sha, err := combo.Load(t.Context(), s.rdb).Result()
	if err != nil {
		t.Fatalf("loading a combo of all %d scripts: %v", len(all), err)
	}
	if sha != combo.Hash() {
		t.Fatalf("loaded as %s, want %s", sha, combo.Hash())
	}
}

// TestComboCachedWithoutAllocation: a pipeline whose list of scripts has its combo cached finds it without
// allocating (combine runs on every pipeline of a single server).
func TestComboCachedWithoutAllocation(t *testing.T) {
	var c combos
	list := []*redis.Script{finishScript, publishScript}
	first, ok := c.script(list)
	if !ok {
		t.Fatal("no combo for finish and publish")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if got, _ := c.script(list); got != first {
			t.Fatal("a second combo for the same list")
		}
	})
	if allocs != 0 {
		t.Fatalf("a cached combo cost %.0f allocations, want 0", allocs)
	}
}
