package rabbittest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
)

// AuthServer is an HTTP server on a loopback port for the broker's
// rabbitmq_auth_backend_http, whose handler a test can replace at any
// time: TestMain starts it and the broker (Options.AuthHTTP =
// URL()+"/internal/rabbitmq", say), and the tests later install what
// answers (Parley's internal listener handler, or a stub). Until a handler
// is set, and after SetHandler(nil), every request is answered "deny".
//
// The backend POSTs form-encoded requests (auth_http.http_method = post)
// and expects 200 with a body "allow", "allow TAG..." (user_path only) or
// "deny":
//
//	/user      username, password
//	/vhost     username, vhost, ip
//	/resource  username, vhost, resource (exchange, queue, topic), name,
//	           permission (configure, write, read)
//	/topic     username, vhost, resource, name, permission, routing_key
//
// Safe for concurrent use.
type AuthServer struct {
	srv *httptest.Server
	h   atomic.Pointer[http.Handler]
}

// NewAuthServer starts an AuthServer on 127.0.0.1 (a free port).
func NewAuthServer() *AuthServer {
	a := &AuthServer{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := a.h.Load(); h != nil {
			(*h).ServeHTTP(w, r)
			return
		}
		_, _ = io.WriteString(w, "deny")
	}))
	return a
}

// URL is the server's base URL, http://127.0.0.1:PORT (no trailing slash).
func (a *AuthServer) URL() string { return a.srv.URL }

// SetHandler makes h answer every later request; nil denies everything.
func (a *AuthServer) SetHandler(h http.Handler) {
	if h == nil {
		a.h.Store(nil)
		return
	}
	a.h.Store(&h)
}

// Close stops the server.
func (a *AuthServer) Close() { a.srv.Close() }
