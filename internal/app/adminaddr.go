package app

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	httpapi "github.com/parley-im/parley/internal/gateway/http"
	"github.com/parley-im/parley/internal/ratelimit"
)

// startAdmin serves the admin API and /metrics on admin.addr, a listener
// of their own (the public one then does not serve them); nothing when
// admin.addr is empty. rollback closes it.
func (a *App) startAdmin(api *httpapi.Server, proxies *ratelimit.Proxies) error {
	if a.cfg.Admin.Addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.Admin.Addr)
	if err != nil {
		return listenError("the admin API", "admin.addr", err)
	}
	a.adminLn = ln
	srv := &http.Server{
		Handler:           httpapi.WithRequestLog(api.AdminHandler(), a.log.With("component", "http", "listener", "admin"), proxies),
		ReadHeaderTimeout: a.cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.adminSrv = srv
	go func() {
		var err error
		if a.cfg.HTTP.TLSCert != "" {
			err = srv.ServeTLS(ln, a.cfg.HTTP.TLSCert, a.cfg.HTTP.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin listener stopped", "err", err)
		}
	}()
	return nil
}

// AdminURL is the base URL of the admin listener (admin.addr); "" when
// the admin API and /metrics are on the public listener.
func (a *App) AdminURL() string {
	if a.adminLn == nil {
		return ""
	}
	if a.cfg.HTTP.TLSCert != "" {
		return "https://" + a.adminLn.Addr().String()
	}
	return "http://" + a.adminLn.Addr().String()
}
