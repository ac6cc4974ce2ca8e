package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	httpapi "github.com/parley-im/parley/internal/gateway/http"
	"github.com/parley-im/parley/protocol"
)

// AdminSocket is the Unix socket in the data directory on which a running
// server serves its admin API to the data directory's owner, without the
// admin key (httpapi.Server.LocalAdmin): `parley user disable` and `delete`
// go through it while the server runs, so that the server also closes the
// user's connections and drops what it has cached about them.
const AdminSocket = "parley.sock"

// ErrNoAdminSocket is matched (errors.Is) by the error of LocalAdmin when
// nothing answers on the admin socket.
var ErrNoAdminSocket = errors.New("no server answers on the admin socket")

// startLocalAdmin serves h on the data directory's admin socket. A server
// that cannot create it (a path too long for a socket, a file system
// without sockets) runs without it and says so.
func (a *App) startLocalAdmin(h http.Handler) {
	path := filepath.Join(a.cfg.DataDir, AdminSocket)
	// A killed server's socket file: this process holds the lock.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		a.log.Warn("no admin socket: parley user disable and delete refuse while this server runs", "path", path, "err", err)
		return
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		a.log.Warn("no admin socket: parley user disable and delete refuse while this server runs", "path", path, "err", err)
		return
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		a.log.Warn("no admin socket", "path", path, "err", err)
		return
	}
	srv := &http.Server{
		Handler:           httpapi.WithRequestLog(h, a.log.With("component", "http", "listener", "admin_socket"), nil),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	a.localLn, a.localSrv = ln, srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin socket stopped", "err", err)
		}
	}()
}

// stopLocalAdmin closes the admin socket and removes its file.
func (a *App) stopLocalAdmin() {
	if a.localSrv == nil {
		return
	}
	a.localSrv.Close()
	a.localSrv = nil
	os.Remove(filepath.Join(a.cfg.DataDir, AdminSocket))
}

// LocalAdmin sends one request of the admin API (method, path such as
// /v1/admin/users/alice/disable, body nil or a value to send as JSON) to
// the server running on dataDir, through its admin socket, and returns the
// response body of a success or the API's error.
func LocalAdmin(ctx context.Context, dataDir, method, path string, body any) ([]byte, error) {
	sock := filepath.Join(dataDir, AdminSocket)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", sock)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrNoAdminSocket, err)
			}
			return c, nil
		},
	}}
	defer client.CloseIdleConnections()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://parley"+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the running server's admin socket %s: %w", sock, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("the running server's admin socket: %w", err)
	}
	if res.StatusCode >= 300 {
		var e struct {
			Error *protocol.Error `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != nil {
			return nil, e.Error
		}
		return nil, fmt.Errorf("the running server answered %s", res.Status)
	}
	return data, nil
}
