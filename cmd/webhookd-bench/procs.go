package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// operatorToken is the token every gateway the tool starts is given (WEBHOOKD_OPERATOR_TOKEN).
const operatorToken = "bench-operator-token-0123456789abcdef"

// errStoreUnavailable: the gateway refused the store URL (the Redis store is not wired into serve yet).
var errStoreUnavailable = errors.New("store not available")

// gateway is one `webhookd serve` child process. Its stderr goes to a file in its directory (cheaper than a pipe
// the tool would have to drain at thousands of log lines a second, and kept for a failed run's diagnosis).
type gateway struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	done    chan struct{}
	waitErr error
}

var servingRE = regexp.MustCompile(`msg="webhookd serving" addr=(\S+)`)

// startGateway starts `webhookd serve` with a fresh data dir under dir. store is the --store value ("" for the
// embedded store).
func startGateway(bin, dir, store, logLevel string, extra []string) (*gateway, error) {
	args := []string{"serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"),
		"--allow-private-endpoints", "--allow-http-endpoints", "--log-level", logLevel}
	if store != "" {
		args = append(args, "--store", store)
	}
	args = append(args, extra...)
	logPath := filepath.Join(dir, "webhookd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), "WEBHOOKD_OPERATOR_TOKEN="+operatorToken)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tool
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	g := &gateway{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { g.waitErr = cmd.Wait(); close(g.done) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if m := servingRE.FindSubmatch(b); m != nil {
			g.addr = string(m[1])
			return g, nil
		}
		select {
		case <-g.done:
			b, _ := os.ReadFile(logPath)
			if store != "" && bytes.Contains(b, []byte("--store")) {
				return nil, fmt.Errorf("%w: %s", errStoreUnavailable, firstLine(lastLines(string(b), 1)))
			}
			return nil, fmt.Errorf("webhookd exited before serving (%v):\n%s", g.waitErr, lastLines(string(b), 20))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			g.kill()
			return nil, fmt.Errorf("webhookd did not serve within 20s:\n%s", lastLines(string(b), 20))
		}
	}
}

// cleanEnv is the tool's environment without WEBHOOKD_* variables, which serve would read as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEBHOOKD_") {
			env = append(env, kv)
		}
	}
	return env
}

func (g *gateway) pid() int { return g.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL after grace.
func (g *gateway) stop(grace time.Duration) {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(grace):
		g.kill()
	}
}

func (g *gateway) kill() {
	_ = g.cmd.Process.Kill()
	<-g.done
}

func (g *gateway) logTail(n int) string {
	b, _ := os.ReadFile(g.logPath)
	return lastLines(string(b), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 200 {
		l = l[:200] + "…"
	}
	return l
}

// redisProc is a throwaway redis-server on a free loopback port, with the settings docs/architecture.md (section
// store/redisstore, Redis settings) asks of a production Redis (AOF everysec, noeviction) and no RDB snapshots.
type redisProc struct {
	cmd    *exec.Cmd
	addr   string
	client *redis.Client
	done   chan struct{}
}

func startRedis(bin, dir string) (*redisProc, error) {
	var lastErr error
	for range 3 { // the free port may be taken between probing and binding
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r, err := startRedisOn(bin, dir, port)
		if err == nil {
			return r, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startRedisOn(bin, dir string, port int) (*redisProc, error) {
	rdir := filepath.Join(dir, "redis")
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return nil, err
	}
	logPath := filepath.Join(rdir, "redis.log")
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
		"--dir", rdir, "--logfile", logPath, "--daemonize", "no")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	r := &redisProc{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	r.client = redis.NewClient(&redis.Options{Addr: r.addr, PoolSize: 4})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := r.client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return r, nil
		}
		select {
		case <-r.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("redis-server exited: %s", lastLines(string(b), 5))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING: %v", r.addr, err)
		}
	}
}

func (r *redisProc) url() string { return "redis://" + r.addr }
func (r *redisProc) pid() int    { return r.cmd.Process.Pid }

// usedMemory returns INFO memory's used_memory.
func (r *redisProc) usedMemory(ctx context.Context) (int64, error) {
	s, err := r.client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("INFO memory: no used_memory")
}

// commandCounts reads INFO commandstats: how many commands Redis ran, those inside scripts included but not the
// script invocations themselves (EVALSHA, EVAL) nor the tool's own (INFO, CONFIG), and how many script invocations;
// byName has every command's calls. Unlike CPU time, these counts do not depend on how fast the machine happens to be.
func (r *redisProc) commandCounts(ctx context.Context) (commands, scripts int64, byName map[string]int64, err error) {
	s, err := r.client.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, 0, nil, err
	}
	byName = map[string]int64{}
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("INFO commandstats: %q: %w", line, err)
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		byName[name] = n
		switch {
		case name == "evalsha" || name == "eval":
			scripts += n
		case name == "info" || strings.HasPrefix(name, "config"):
		default:
			commands += n
		}
	}
	return commands, scripts, byName, nil
}

// perDelivery renders command counts per delivery, most first: "hset 3.10, zadd 2.55, ...".
func perDelivery(byName map[string]int64, deliveries int) string {
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(byName[b], byName[a]), cmp.Compare(a, b)) })
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.2f", n, float64(byName[n])/float64(max(deliveries, 1))))
	}
	return strings.Join(parts, ", ")
}

func (r *redisProc) stop() {
	r.client.Close()
	_ = r.cmd.Process.Kill()
	<-r.done
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// procCPU returns a process's user+system CPU time from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	u, s, err := procCPUSplit(pid)
	return u + s, err
}

// procCPUSplit returns a process's user and system CPU time from /proc/PID/stat.
func procCPUSplit(pid int) (user, system time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may hold spaces: fields are counted after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("malformed utime/stime")
	}
	tick := time.Second / time.Duration(clkTck())
	return time.Duration(ut) * tick, time.Duration(st) * tick, nil
}

// procSwitches returns how many times the threads of a process have given up their CPU, to sleep or when preempted:
// the sum of voluntary_ctxt_switches and nonvoluntary_ctxt_switches over /proc/PID/task/*/status. A thread that has
// exited no longer counts; the Go runtime seldom ends one.
func procSwitches(pid int) (int64, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue // the thread ended meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:")
			if !ok {
				v, ok = strings.CutPrefix(line, "nonvoluntary_ctxt_switches:")
			}
			if !ok {
				continue
			}
			c, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/task/%s/status: %w", pid, t.Name(), err)
			}
			n += c
		}
	}
	return n, nil
}

// procHWM returns a process's peak resident set (VmHWM) in bytes.
func procHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM")
}

var clkTck = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
})

// span is an interval of the run's clock (ns since its base).
type span struct{ from, to int64 }

// watchForks records when Redis had a child process at work (an AOF rewrite or an RDB save: a fork that writes the
// whole dataset while the server goes on, competing for the cores), polling INFO persistence every 25 ms until stop
// is closed; each span starts at the last poll that saw none. It returns the spans through the channel it returns.
func (r *redisProc) watchForks(ctx context.Context, base time.Time, stop <-chan struct{}) <-chan []span {
	out := make(chan []span, 1)
	go func() {
		var spans []span
		var open bool
		last := time.Since(base).Nanoseconds()
		t := time.NewTicker(25 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
			case <-ctx.Done():
			case <-t.C:
				now := time.Since(base).Nanoseconds()
				if busy, err := r.forking(ctx); err == nil {
					switch {
					case busy && !open:
						spans, open = append(spans, span{from: last}), true
					case !busy && open:
						spans[len(spans)-1].to, open = now, false
					}
				}
				last = now
				continue
			}
			if open {
				spans[len(spans)-1].to = time.Since(base).Nanoseconds()
			}
			out <- spans
			return
		}
	}()
	return out
}

// forking reports whether INFO persistence shows an AOF rewrite or an RDB save in progress.
func (r *redisProc) forking(ctx context.Context) (bool, error) {
	s, err := r.client.Info(ctx, "persistence").Result()
	if err != nil {
		return false, err
	}
	return parseForking(s), nil
}

func parseForking(info string) bool {
	for _, line := range strings.Split(info, "\n") {
		switch strings.TrimSpace(line) {
		case "aof_rewrite_in_progress:1", "rdb_bgsave_in_progress:1":
			return true
		}
	}
	return false
}
