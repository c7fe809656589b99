package main_test

// These tests run several webhookd replicas (the real binary, built by TestMain) on one Redis that each test starts
// on a free loopback port with AOF on (appendfsync everysec, as docs/scaling.md advises), and a receiver that
// verifies every signature. Without redis-server on PATH they are skipped, except under CI=true, where they fail.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/client"
	"github.com/webhookd/webhookd/events"
	"github.com/webhookd/webhookd/internal/testredis"
	"github.com/webhookd/webhookd/signing"
	redisstore "github.com/webhookd/webhookd/store/redisstore"
	"github.com/webhookd/webhookd/verifier"
	"github.com/webhookd/webhookd/wire"
)

// replicaFlags give a killed replica's leases back within seconds: a 2s lease (attempt timeouts are cut to 1s),
// reclaimed every 250ms.
var replicaFlags = []string{"--lease", "2s", "--reclaim-every", "250ms"}

// redisAOF starts a private redis-server with AOF (everysec) in dir, and returns it with its store URL.
func redisAOF(t *testing.T, dir string) (*testredis.Server, string) {
	t.Helper()
	srv := testredis.StartServer(t, "--appendonly", "yes", "--appendfsync", "everysec", "--dir", dir)
	return srv, "redis://" + srv.Addr + "/0"
}

// startReplicas starts n gateways on the store at url, each with its own data directory.
func startReplicas(t *testing.T, n int, url string, extra ...string) []*gateway {
	t.Helper()
	gs := make([]*gateway, n)
	for i := range gs {
		gs[i] = startGateway(t, t.TempDir(), append([]string{"--store", url}, extra...)...)
	}
	return gs
}

// stop sends SIGTERM and waits for a clean exit.
func (g *gateway) stop(t *testing.T) {
	t.Helper()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		if err != nil {
			t.Fatalf("SIGTERM: webhookd exited with %v\n%s", err, g.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("SIGTERM: webhookd did not exit within 20s\n%s", g.logs)
	}
}

// hub is a receiver for many endpoints (told apart by URL path) that verifies every signature, counts requests per
// webhook-id, notes which webhook-ids each event (its data.n) came with, and records the order of arrival.
type hub struct {
	srv   *httptest.Server
	mu    sync.Mutex
	perID map[string]int          // webhook-id → requests
	ids   map[int]map[string]bool // event number → webhook-ids it arrived with
	order []string                // URL paths, in order of arrival
	news  chan struct{}
	// hold, when set, is asked about each request (its path and how many times its webhook-id has arrived,
	// this one included); true keeps the request open until the sender gives up on it.
	hold func(path string, count int) bool
}

func newHub(t *testing.T, secret string, hold func(path string, count int) bool) *hub {
	t.Helper()
	v, err := verifier.New(verifier.Config{Keys: []string{secret}, Dedup: verifier.NoDedup{}})
	if err != nil {
		t.Fatal(err)
	}
	h := &hub{perID: map[string]int{}, ids: map[int]map[string]bool{}, news: make(chan struct{}, 1), hold: hold}
	h.srv = httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, _ := verifier.ResultFrom(r.Context())
		var body struct {
			Data struct{ N int } `json:"data"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.perID[res.MessageID]++
		n := h.perID[res.MessageID]
		if h.ids[body.Data.N] == nil {
			h.ids[body.Data.N] = map[string]bool{}
		}
		h.ids[body.Data.N][res.MessageID] = true
		h.order = append(h.order, r.URL.Path)
		h.mu.Unlock()
		select {
		case h.news <- struct{}{}:
		default:
		}
		if h.hold != nil && h.hold(r.URL.Path, n) {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hub) distinct() int { h.mu.Lock(); defer h.mu.Unlock(); return len(h.perID) }

// waitFor waits until cond holds, waking on each request, for at most d.
func (h *hub) waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.After(d)
	tick := time.NewTicker(100 * time.Millisecond) // cond may also depend on the API, which sends no signal
	defer tick.Stop()
	for !cond() {
		select {
		case <-h.news:
		case <-tick.C:
		case <-deadline:
			return cond()
		}
	}
	return true
}

// missing counts the accepted message ids that never arrived.
func (h *hub) missing(accepted map[string]bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for id := range accepted {
		if h.perID[id] == 0 {
			n++
		}
	}
	return n
}

// duplicates counts requests beyond the first per webhook-id.
func (h *hub) duplicates() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.perID {
		n += c - 1
	}
	return n
}

// oneIDPerEvent fails unless every event arrived under a single webhook-id, however often it arrived.
func (h *hub) oneIDPerEvent(t *testing.T) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, ids := range h.ids {
		if len(ids) != 1 {
			t.Errorf("event %d arrived under %d webhook-ids: %v", n, len(ids), ids)
		}
	}
}

// apiClient keeps connections to the replicas open across thousands of publishes.
var apiClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second},
}

// publishEvent publishes event n (producer id evt-n, type typ) through g and returns the answer's status (0 when
// there was none) and the message id.
func publishEvent(g *gateway, typ string, n int) (int, string) {
	res, err := g.api().Publish(context.Background(), "acme",
		wire.Event{Type: typ, ID: fmt.Sprintf("evt-%d", n), Data: fmt.Appendf(nil, `{"n":%d}`, n)})
	if e, ok := errors.AsType[*client.Error](err); ok {
		return e.Status, ""
	}
	if err != nil {
		return 0, ""
	}
	return http.StatusAccepted, res.ID
}

// createEndpoint registers an endpoint of tenant acme at url for the event filters, signed with secret; a timeout of
// 0 leaves the default.
func createEndpoint(t *testing.T, g *gateway, url, secret string, filters []string, timeout time.Duration) {
	t.Helper()
	req := wire.EndpointRequest{URL: &url, Events: &filters, Secret: &secret}
	if timeout != 0 {
		req.Timeout = wire.Duration(timeout)
	}
	if _, err := g.api().CreateEndpoint(context.Background(), "acme", req); err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
}

func createTenant(t *testing.T, g *gateway) {
	t.Helper()
	if _, err := g.api().CreateTenant(context.Background(), wire.CreateTenant{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
}

// TestReplicasCrash: three replicas share one Redis; 10,000 events (for ten endpoints) are published through all
// three at once; one replica is killed with SIGKILL when a third has arrived. A publish whose replica died under it is sent again to
// another replica with the same producer id, so every event is accepted. Every accepted event must arrive, each
// under one webhook-id however often it arrives (the killed replica's leases come back to the others).
func TestReplicasCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three gateways and Redis")
	}
	_, url := redisAOF(t, t.TempDir())
	secret, _ := signing.GenerateSecret(0)
	rcv := newHub(t, secret, nil)
	gs := startReplicas(t, 3, url, replicaFlags...)
	createTenant(t, gs[0])
	// Ten endpoints, one per event type, so that many attempts are in flight (the per-endpoint cap is 8) and the
	// killed replica holds leases in several shards.
	const endpoints = 10
	for k := range endpoints {
		createEndpoint(t, gs[k%3], fmt.Sprintf("%s/hook/%d", rcv.srv.URL, k), secret, []string{fmt.Sprintf("device.t%d", k)}, 0)
	}

	const total = 10_000
	var (
		mu         sync.Mutex
		accepted   = map[string]bool{}
		failovers  atomic.Int64
		wg         sync.WaitGroup
		dead       atomic.Bool // gs[2] was killed
		atKill     int         // events accepted when it was
		killed     = make(chan struct{})
		killedWhen time.Duration
	)
	start := time.Now()
	go func() {
		defer close(killed)
		rcv.waitFor(2*time.Minute, func() bool { return rcv.distinct() >= total/3 })
		gs[2].cmd.Process.Signal(syscall.SIGKILL)
		dead.Store(true)
		killedWhen = time.Since(start)
		mu.Lock()
		atKill = len(accepted)
		mu.Unlock()
	}()

	next := make(chan int)
	for p := range 24 { // 8 publishers per replica
		wg.Go(func() {
			for n := range next {
				for try := 0; ; try++ {
					g := gs[(p+try)%3]
					if g == gs[2] && dead.Load() {
						continue
					}
					code, id := publishEvent(g, fmt.Sprintf("device.t%d", n%endpoints), n)
					if code == http.StatusAccepted {
						mu.Lock()
						accepted[id] = true
						mu.Unlock()
						break
					}
					failovers.Add(1)
					if try > 20 {
						t.Errorf("event %d: no replica accepted it (last status %d)", n, code)
						break
					}
				}
			}
		})
	}
	for n := range total {
		next <- n
	}
	close(next)
	wg.Wait()
	published := time.Since(start)
	<-killed
	<-gs[2].done

	if !rcv.waitFor(90*time.Second, func() bool { return rcv.missing(accepted) == 0 }) {
		t.Fatalf("%d of %d accepted events never arrived\nreplica 0:\n%s", rcv.missing(accepted), len(accepted), gs[0].logs)
	}
	if len(accepted) != total {
		t.Errorf("%d distinct message ids accepted for %d events: a retried publish made a second message", len(accepted), total)
	}
	rcv.oneIDPerEvent(t)
	t.Logf("%d events accepted in %v; replica 2 killed at %v with %d accepted (%d publishes then retried on "+
		"another replica); all delivered %v after the first publish; %d duplicate deliveries, each under its "+
		"event's one webhook-id; the survivors reclaimed %d expired leases of the killed replica",
		len(accepted), published.Round(time.Millisecond), killedWhen.Round(time.Millisecond), atKill,
		failovers.Load(), time.Since(start).Round(time.Millisecond), rcv.duplicates(), reclaimed(gs[0])+reclaimed(gs[1]))
}

var reclaimedRE = regexp.MustCompile(`msg="delivery: reclaimed expired leases" tasks=(\d+)`)

// reclaimed adds up the expired leases a gateway's log says it reclaimed.
func reclaimed(g *gateway) int {
	n := 0
	for _, m := range reclaimedRE.FindAllStringSubmatch(g.logs.String(), -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	return n
}

// restartRedis starts redis-server again on addr's port with dir and AOF, once the old process has let go of it.
func restartRedis(t *testing.T, addr, dir string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "yes",
			"--appendfsync", "everysec", "--save", "", "--protected-mode", "no")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-exited: // the port was still taken: try again
			if time.Now().After(deadline) {
				t.Fatalf("redis-server would not start again on port %s", port)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		case <-time.After(300 * time.Millisecond): // up, or loading the AOF
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		return
	}
}

// TestReplicasRedisRestart: two replicas deliver a stream of events while Redis (AOF) is shut down and started
// again on the same port and directory. Publishes during the outage fail (never 202) and are not counted; the
// replicas reconnect by themselves, and every event answered 202 arrives.
func TestReplicasRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two gateways and Redis")
	}
	dir := t.TempDir()
	srv, url := redisAOF(t, dir)
	secret, _ := signing.GenerateSecret(0)
	rcv := newHub(t, secret, nil)
	gs := startReplicas(t, 2, url, replicaFlags...)
	createTenant(t, gs[0])
	createEndpoint(t, gs[0], rcv.srv.URL+"/hook", secret, []string{"device.*"}, 0)

	var (
		mu        sync.Mutex
		accepted  = map[string]bool{}
		refused   = map[int]int{} // status → publishes answered so (during the outage)
		down      atomic.Bool     // SHUTDOWN was sent
		sawOutage = make(chan struct{})
		outage    sync.Once
		stop      = make(chan struct{})
		seq       atomic.Int64
		wg        sync.WaitGroup
	)
	for p := range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := int(seq.Add(1))
				code, id := publishEvent(gs[p%2], "device.enrolled", n)
				mu.Lock()
				if code == http.StatusAccepted {
					accepted[id] = true
				} else {
					refused[code]++
					if code < 500 {
						t.Errorf("event %d: status %d, want 202 or 5xx", n, code)
					}
				}
				nRefused := refused[code]
				mu.Unlock()
				if code != http.StatusAccepted && nRefused >= 20 && down.Load() {
					outage.Do(func() { close(sawOutage) })
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	if !rcv.waitFor(60*time.Second, func() bool { return rcv.distinct() >= 300 }) {
		t.Fatalf("only %d events arrived before the restart", rcv.distinct())
	}
	down.Store(true)
	_ = srv.Client.Shutdown(t.Context()).Err() // SHUTDOWN fsyncs the AOF; the connection drops with no reply
	select {
	case <-sawOutage: // 20 publishes have been refused: the outage is visible to the API
	case <-time.After(30 * time.Second):
		t.Fatal("publishes did not fail within 30s of SHUTDOWN")
	}
	restartRedis(t, srv.Addr, dir)
	before := rcv.distinct()
	if !rcv.waitFor(60*time.Second, func() bool { return rcv.distinct() >= before+300 }) {
		t.Fatalf("the replicas did not deliver again after the restart (%d arrived since)\n%s", rcv.distinct()-before, gs[0].logs)
	}
	close(stop)
	wg.Wait()
	stop = make(chan struct{}) // for the deferred close

	mu.Lock()
	defer mu.Unlock()
	if !rcv.waitFor(60*time.Second, func() bool { return rcv.missing(accepted) == 0 }) {
		t.Fatalf("%d of %d events answered 202 never arrived\n%s", rcv.missing(accepted), len(accepted), gs[0].logs)
	}
	rcv.oneIDPerEvent(t)
	t.Logf("%d events answered 202, all delivered; refused during the outage: %v; %d duplicate deliveries",
		len(accepted), refused, rcv.duplicates())
}

// TestReplicasFairness: one endpoint has 5,000 deliveries queued and twenty endpoints five each, all due at once
// before any replica runs; then two replicas start. Every delivery of the twenty small endpoints must arrive before
// the big endpoint's 100th.
func TestReplicasFairness(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two gateways and Redis")
	}
	_, url := redisAOF(t, t.TempDir())
	secret, _ := signing.GenerateSecret(0)
	rcv := newHub(t, secret, nil)

	// Register the endpoints through the API, then stop the gateway so that nothing is delivered yet.
	g := startGateway(t, t.TempDir(), "--store", url)
	createTenant(t, g)
	createEndpoint(t, g, rcv.srv.URL+"/big", secret, []string{"big.*"}, 0)
	for i := range 20 {
		createEndpoint(t, g, fmt.Sprintf("%s/small/%02d", rcv.srv.URL, i), secret, []string{"small.*"}, 0)
	}
	g.stop(t)

	// Queue the work straight into the store, as the API would: 5,000 events for the big endpoint, and five that
	// fan out to the twenty small ones.
	ctx := t.Context()
	st, err := redisstore.Open(ctx, url, redisstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := events.NewService(st, events.Config{Endpoints: st, Log: st, Queue: st})
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for n := range next {
				typ := "big.event"
				if n >= 5000 {
					typ = "small.event"
				}
				if _, _, _, err := svc.Publish(ctx, "acme", events.PublishInput{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}); err != nil {
					t.Errorf("publish %d: %v", n, err)
				}
			}
		})
	}
	for n := range 5005 {
		next <- n
	}
	close(next)
	wg.Wait()

	startReplicas(t, 2, url)
	counts := func() (big, small int) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, p := range rcv.order {
			if p == "/big" {
				big++
			} else {
				small++
			}
		}
		return big, small
	}
	if !rcv.waitFor(60*time.Second, func() bool { big, small := counts(); return small >= 100 && big >= 100 }) {
		big, small := counts()
		t.Fatalf("after 60s: %d big and %d small deliveries arrived", big, small)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	big, small, bigAtLastSmall := 0, 0, 0
	for _, p := range rcv.order {
		if p == "/big" {
			big++
			continue
		}
		small++
		if small == 100 {
			bigAtLastSmall = big
		}
	}
	if bigAtLastSmall >= 100 {
		t.Fatalf("the last of the 100 small deliveries arrived after %d of the big endpoint's", bigAtLastSmall)
	}
	t.Logf("all 100 deliveries to the 20 small endpoints arrived while the big endpoint (5,000 queued) had %d", bigAtLastSmall)
}

// TestReplicasGracefulShutdown: a replica holding attempts to an endpoint that does not answer is stopped with
// SIGTERM; it aborts them after its shutdown timeout and releases them unspent, and the other replica, woken by the
// release, delivers them: each delivery succeeds with one attempt on record.
func TestReplicasGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two gateways and Redis")
	}
	_, url := redisAOF(t, t.TempDir())
	secret, _ := signing.GenerateSecret(0)
	// The first request of each message hangs until the sender gives up on it; later ones succeed.
	rcv := newHub(t, secret, func(_ string, count int) bool { return count == 1 })
	a := startGateway(t, t.TempDir(), "--store", url, "--shutdown-timeout", "1s")
	createTenant(t, a)
	createEndpoint(t, a, rcv.srv.URL+"/hook", secret, []string{"device.*"}, 20*time.Second)

	const n = 6
	msgs := map[string]bool{}
	for i := range n {
		code, id := publishEvent(a, "device.enrolled", i)
		if code != http.StatusAccepted {
			t.Fatalf("publish %d: %d", i, code)
		}
		msgs[id] = true
	}
	if !rcv.waitFor(30*time.Second, func() bool { return rcv.distinct() == n }) {
		t.Fatalf("only %d of %d requests are held open by the receiver", rcv.distinct(), n)
	}
	b := startGateway(t, t.TempDir(), "--store", url)
	a.stop(t)

	delivered := func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for id := range msgs {
			if rcv.perID[id] < 2 {
				return false
			}
		}
		return true
	}
	if !rcv.waitFor(30*time.Second, delivered) {
		t.Fatalf("the released deliveries did not arrive from the other replica\nA:\n%s\nB:\n%s", a.logs, b.logs)
	}
	ctx := context.Background()
	var succeeded []wire.Delivery
	ok := rcv.waitFor(30*time.Second, func() bool {
		l, err := b.api().ListDeliveries(ctx, "acme", client.DeliveryFilter{Status: wire.StatusSucceeded, Page: client.Page{Limit: 100}})
		if err == nil {
			succeeded = l.Data
		}
		return err == nil && len(succeeded) == n
	})
	if !ok {
		t.Fatalf("%d of %d deliveries recorded as succeeded", len(succeeded), n)
	}
	for _, d := range succeeded {
		got, err := b.api().GetDelivery(ctx, "acme", d.ID)
		if err != nil {
			t.Fatalf("GET delivery %s: %v", d.ID, err)
		}
		if got.Status != wire.StatusSucceeded || got.Attempts != 1 || len(got.AttemptLog) != 1 {
			t.Errorf("delivery %s: status %s, %d attempts, attempt log %+v; want succeeded with one attempt",
				d.ID, got.Status, got.Attempts, got.AttemptLog)
		}
	}
	if strings.Contains(a.logs.String(), "level=ERROR") {
		t.Errorf("the stopped replica logged errors:\n%s", a.logs)
	}
}
