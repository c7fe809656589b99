package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// Sampling of the blocking and mutex profiles while Config.PprofListen is on (both are off otherwise, and empty): a
// blocking event of blockProfileRate ns or more is always recorded, a shorter one with probability d/rate; one mutex
// contention in mutexProfileFraction.
const (
	blockProfileRate     = 10_000
	mutexProfileFraction = 100
)

// servePprof serves the runtime profiles (net/http/pprof) on their own listener, never the API's, for profiling under
// load, and turns on the blocking and mutex profiles. It returns the address it listens on and a function that
// closes the listener and turns those profiles off again.
func servePprof(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("pprof listen: %w", err)
	}
	runtime.SetBlockProfileRate(blockProfileRate)
	runtime.SetMutexProfileFraction(mutexProfileFraction)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln.Addr().String(), func() {
		srv.Close()
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	}, nil
}
