package httpapi

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
)

// RequestIDHeader carries a request's id: taken from the client when it is
// a short token of safe characters, else generated; echoed in the response
// and in every log line about the request.
const RequestIDHeader = "X-Request-Id"

// WithRequestLog wraps h so that every request gets a request id and one
// structured log line when it ends: method, path (never the query string,
// where credentials could hide), status, bytes, duration, remote address
// (the client's, resolved through the trusted proxies; peer adds the
// proxy's when the request came through one). Health and metrics scrapes
// log at debug level, everything else at info. Bodies, tokens and passwords
// are never logged.
func WithRequestLog(h http.Handler, log *slog.Logger, proxies *ratelimit.Proxies) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !safeRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		rw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		h.ServeHTTP(rw, r)
		level := slog.LevelInfo
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			level = slog.LevelDebug
		}
		status := rw.status
		if rw.hijacked {
			status = http.StatusSwitchingProtocols
		} else if status == 0 {
			status = http.StatusOK
		}
		attrs := []any{"request_id", id, "method", r.Method, "path", r.URL.Path, "status", status,
			"bytes", rw.bytes, "duration", time.Since(start), "remote", ratelimit.String(proxies.ClientIP(r))}
		if proxies != nil {
			if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
				if peer, err := netip.ParseAddr(host); err == nil && proxies.Trusted(peer) {
					attrs = append(attrs, "peer", peer.Unmap().String())
				}
			}
		}
		log.Log(r.Context(), level, "http request", attrs...)
	})
}

func safeRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(b[:])
}

// statusWriter records the status and size of a response. It passes
// Hijack (WebSocket upgrades) and Flush (streamed exports) through.
type statusWriter struct {
	http.ResponseWriter
	status   int
	bytes    int64
	hijacked bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("response does not support hijacking")
	}
	w.hijacked = true
	return hj.Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
