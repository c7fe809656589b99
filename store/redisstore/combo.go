package redisstore

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Script calls of one pipeline run as one script on a single server. Redis counts each script run, and each costs
// it a call set-up (the script's KEYS and ARGV tables, its closures, its reply) beside the commands it runs; a steady
// load's round trip carries an ack that rode with a publish (ride.go), a busy one several shards' finishes. On a
// single server, where a script may touch any key, a combo script holds each of the calls' scripts as a function of
// its own KEYS and ARGV, runs the calls in order and answers their replies in one array. A Cluster keeps one call
// per script: its calls may be on several nodes.
//
// The calls then run atomically together, which no caller relies on: each still gets its own reply. A call that
// fails (a Lua error, a command refused) ends the combo there, and every call of it gets that error; the calls
// before it may have written, as a failed script's writes stay in Redis in any case, and every caller already takes
// an error to mean "perhaps done" (a finish then finds its lease gone, a publish is retried under its idempotency
// key).

// scriptSources holds each script's source by its value, for combos. It is filled while the package's variables are
// initialized, and only read after.
var scriptSources = map[*redis.Script]string{}

// newScript is redis.NewScript that also records src for combos.
func newScript(src string) *redis.Script {
	s := redis.NewScript(src)
	scriptSources[s] = src
	return s
}

// combos caches the combo script of each list of scripts (distinct, in order of first use in a pipeline).
type combos struct {
	mu sync.Mutex
	m  map[string]combo // by the scripts' hashes, joined
}

type combo struct {
	script  *redis.Script
	scripts []*redis.Script // its functions' scripts, in order
}

// maxCombos bounds the cache; the store's pipelines use a handful of lists.
const maxCombos = 64

// script returns the combo script of scripts, and false when one of them has no recorded source.
func (c *combos) script(scripts []*redis.Script) (*redis.Script, bool) {
	// The key is built on the stack for the usual lists, and the lookup converts it without a copy: a pipeline
	// that finds its combo cached allocates nothing here.
	var buf [4 * 40]byte
	key := buf[:0]
	for _, s := range scripts {
		key = append(key, s.Hash()...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cb, ok := c.m[string(key)]; ok {
		return cb.script, true
	}
	var src strings.Builder
	src.WriteString("local fns = {}\n")
	for i, s := range scripts {
		body, ok := scriptSources[s]
		if !ok {
			return nil, false
		}
		// KEYS and ARGV are the function's parameters: the body reads its own call's.
		src.WriteString("fns[" + strconv.Itoa(i+1) + "] = function(KEYS, ARGV)\n")
		src.WriteString(body)
		src.WriteString("\nend\n")
	}
	src.WriteString(comboDispatch)
	s := redis.NewScript(src.String())
	if c.m == nil || len(c.m) >= maxCombos {
		c.m = map[string]combo{}
	}
	c.m[string(key)] = combo{s, slices.Clone(scripts)}
	return s, true
}

// comboDispatch runs a combo's calls.
//
//	ARGV[1] n, the calls; then per call i: ARGV[3i-1] its function, ARGV[3i] its keys, ARGV[3i+1] its arguments;
//	then every call's arguments in order. KEYS: every call's keys in order.
//	Reply: per call, its script's reply (false for nil).
const comboDispatch = `
local n = tonumber(ARGV[1])
local out, k, a = {}, 0, 1 + 3 * n
for i = 1, n do
  local f, nk, na = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local ks, as = {}, {}
  for j = 1, nk do ks[j] = KEYS[k + j] end
  for j = 1, na do as[j] = ARGV[a + j] end
  k, a = k + nk, a + na
  local r = fns[f](ks, as)
  if r == nil then r = false end
  out[i] = r
end
return out
`

// combine returns the one call that runs calls, on a single server with every script's source known.
func (s *Store) combine(calls []scriptCall) (scriptCall, bool) {
	if !s.onePublish || len(calls) < 2 {
		return scriptCall{}, false
	}
	var scripts []*redis.Script
	fn := make([]int, len(calls))
	nkeys, nargs := 0, 1+3*len(calls)
	for i, c := range calls {
		fn[i] = -1
		for j, sc := range scripts {
			if sc == c.script {
				fn[i] = j + 1
				break
			}
		}
		if fn[i] < 0 {
			scripts = append(scripts, c.script)
			fn[i] = len(scripts)
		}
		nkeys += len(c.keys)
		nargs += len(c.args)
	}
	script, ok := s.combos.script(scripts)
	if !ok {
		return scriptCall{}, false
	}
	keys := make([]string, 0, nkeys)
	args := make([]any, 1+3*len(calls), nargs)
	args[0] = len(calls)
	for i, c := range calls {
		keys = append(keys, c.keys...)
		args[1+3*i], args[2+3*i], args[3+3*i] = fn[i], len(c.keys), len(c.args)
	}
	for _, c := range calls {
		args = append(args, c.args...)
	}
	return scriptCall{script, keys, args}, true
}

// errComboReply is the error of every call of a combo whose reply was not one value per call.
var errComboReply = errors.New("redisstore: combo script: unexpected reply")

// split gives each of n calls its reply from a combo's command, as if it had run alone: nil as redis.Nil, an error
// reply as the call's error.
func split(ctx context.Context, cmd *redis.Cmd, n int) []*redis.Cmd {
	cmds := make([]*redis.Cmd, n)
	vals, err := cmd.Slice()
	if err == nil && len(vals) != n {
		err = errComboReply
	}
	for i := range cmds {
		c := redis.NewCmd(ctx, "evalsha")
		var v any
		if err == nil {
			v = vals[i]
		}
		switch e, isErr := v.(error); {
		case err != nil:
			c.SetErr(err)
		case v == nil:
			c.SetErr(redis.Nil)
		case isErr:
			c.SetErr(e) // a script that returned redis.error_reply
		default:
			c.SetVal(v)
		}
		cmds[i] = c
	}
	return cmds
}
