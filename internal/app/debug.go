package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startDebug serves Go's profiling endpoints on debug.pprof_addr, on a
// listener of their own so that they are never reachable through the
// public one. rollback closes the listener.
func (a *App) startDebug() error {
	if a.cfg.Debug.PprofAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.Debug.PprofAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (debug.pprof_addr): %w", a.cfg.Debug.PprofAddr, err)
	}
	a.debugLn = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	a.debugSrv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			a.log.Error("profiling server stopped", "err", err)
		}
	}()
	a.log.Info("profiling endpoints on", "addr", ln.Addr().String())
	return nil
}

// PprofAddr is the address the profiling endpoints are bound to; "" if
// they are off.
func (a *App) PprofAddr() string {
	if a.debugLn == nil {
		return ""
	}
	return a.debugLn.Addr().String()
}
