package node

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// debugServer serves Go's runtime profiles (net/http/pprof) on a listener
// of its own, apart from the HTTP API: profiles reveal internals and cost
// CPU while they run, so they are off unless Config.PprofAddr is set, and
// an operator can bind them to a loopback address that clients never see.
type debugServer struct {
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup
}

// startDebugServer listens on addr and serves /debug/pprof/ there.
func startDebugServer(addr string, errLog func(error)) (*debugServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: pprof listener on %s: %w", ErrStart, addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	d := &debugServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		// A CPU profile or a trace streams for its ?seconds= (30 by
		// default); allow a few minutes, not forever.
		WriteTimeout: 5 * time.Minute,
	}}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := d.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errLog(err)
		}
	}()
	return d, nil
}

// addr is the bound address.
func (d *debugServer) addr() string { return d.ln.Addr().String() }

// stop closes the listener and every connection (a profile in progress is
// cut short) and waits for the server's goroutine.
func (d *debugServer) stop() {
	_ = d.srv.Close()
	d.wg.Wait()
}

// PprofAddr is the bound address of the runtime profiles (Config.PprofAddr),
// empty when they are off.
func (n *Node) PprofAddr() string {
	if n.debug == nil {
		return ""
	}
	return n.debug.addr()
}
