package httpapi

import (
	"crypto/subtle"
	"net/http"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

// route is one endpoint: its pattern, handler and accepted query
// parameters (see handle).
type route struct {
	pattern string
	h       http.HandlerFunc
	query   []string
}

// adminRoutes lists the admin API, without its authentication.
func (s *Server) adminRoutes() []route {
	return append([]route{
		{"GET /v1/admin/users", s.adminListUsers, []string{"after", "limit"}},
		{"POST /v1/admin/users", s.adminCreateUser, nil},
		{"POST /v1/admin/users/{user}/disable", s.adminSetDisabled(true), nil},
		{"POST /v1/admin/users/{user}/enable", s.adminSetDisabled(false), nil},
		{"POST /v1/admin/users/{user}/revoke", s.adminRevoke, nil},
		{"POST /v1/admin/users/{user}/kick", s.adminKick, nil},
		{"DELETE /v1/admin/users/{user}", s.adminDeleteUser, nil},
		{"GET /v1/admin/users/{user}/export", s.adminExportUser, nil},
	}, s.noticeRoutes()...)
}

// limitAdmin is the limit label (parley_rate_limited_total) of failed
// admin authentications.
const limitAdmin = "admin"

// admin wraps a handler of the admin API: it needs the admin key, and an
// address that failed to give it Options.AdminFailuresPerMinute times in a
// minute is refused (429) until its bucket refills, whatever key it sends.
// Each attempt takes a token before the key is compared (so concurrent
// guesses cannot overshoot) and a success gives it back.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := ratelimit.Key(s.clientIP(r))
		if wait, first := s.adminFails.take(key); wait > 0 {
			s.core.Metrics().RateLimited.WithLabelValues(limitAdmin).Inc()
			if first {
				s.log.Warn("admin authentication rate limit reached", "remote", s.remote(r))
			}
			writeError(w, &rateLimitError{what: "failed admin authentications", retryAfter: wait, by: "address", limits: []string{limitAdmin}})
			return
		}
		tok, ok := bearer(r)
		if s.opt.AdminKey == "" || !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opt.AdminKey)) != 1 {
			s.log.Info("admin authentication failed", "method", r.Method, "path", r.URL.Path, "remote", s.remote(r))
			writeError(w, core.ErrUnauthorized)
			return
		}
		s.adminFails.refund(key)
		h(w, r)
	}
}

// adminLimiter is a token bucket per client address of failed admin
// authentications, holding a minute's worth.
type adminLimiter struct {
	mu sync.Mutex
	b  *ratelimit.Buckets
}

func newAdminLimiter(perMinute int) *adminLimiter {
	return &adminLimiter{b: ratelimit.NewBuckets(float64(perMinute), time.Minute, perMinute)}
}

// take takes a token from key's bucket, or returns how long until it holds
// one, and whether this is the first refusal since it last allowed one.
func (l *adminLimiter) take(key string) (wait time.Duration, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if w := l.b.Wait(key, now); w > 0 {
		return w, l.b.Refuse(key, now)
	}
	l.b.Take(key, now)
	return 0, false
}

// refund gives back the token of an attempt that succeeded.
func (l *adminLimiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Refund(key, time.Now())
}

// AdminHandler serves the admin API (with the admin key) and /metrics,
// for a listener of their own (Options.SeparateAdmin); everything else is
// 404 there.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	if s.opt.Metrics != nil {
		mux.Handle("GET /metrics", s.opt.Metrics)
	}
	for _, rt := range s.adminRoutes() {
		h, query := s.admin(rt.h), rt.query
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := checkQuery(r, query); err != nil {
				writeError(w, err)
				return
			}
			h(w, r)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &protocol.Error{Code: http.StatusNotFound, Reason: "not_found", Message: "no such endpoint"})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := credentialParam(r); ok {
			s.log.Warn("credentials in the URL refused", "method", r.Method, "path", r.URL.Path, "param", name, "remote", s.remote(r))
			writeError(w, errTokenInURL)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// LocalAdmin serves the admin API without the admin key, for a listener
// that only the data directory's owner can reach (the server's Unix
// socket in its data directory, which `parley user` uses while the server
// runs, so that the server closes the connections of a user it disables or
// deletes). Never serve it on a network listener.
func (s *Server) LocalAdmin() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.adminRoutes() {
		h, query := rt.h, rt.query
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := checkQuery(r, query); err != nil {
				writeError(w, err)
				return
			}
			h(w, r)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &protocol.Error{Code: http.StatusNotFound, Reason: "not_found", Message: "no such endpoint"})
	})
	return mux
}

func (s *Server) adminListUsers(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r, 1000)
	if err != nil {
		writeError(w, err)
		return
	}
	if limit == 0 {
		limit = 100
	}
	after := r.URL.Query().Get("after")
	// after is a user id: the same characters as device ids, which
	// ValidateDeviceID checks without the rules only new user ids follow.
	if after != "" && core.ValidateDeviceID(after) != nil {
		writeError(w, &core.FieldError{Field: "after", Reason: "must be a user id (the last id of the previous page)"})
		return
	}
	us, err := s.core.ListUsers(r.Context(), after, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us})
}

func (s *Server) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := s.readJSON(w, r, &c); err != nil {
		writeError(w, err)
		return
	}
	u, err := s.core.CreateUser(r.Context(), c.User, c.Password, c.DisplayName)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (s *Server) adminSetDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.core.SetDisabled(r.Context(), r.PathValue("user"), disabled); err != nil {
			writeError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) adminRevoke(w http.ResponseWriter, r *http.Request) {
	if err := s.core.RevokeTokens(r.Context(), r.PathValue("user")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminKick(w http.ResponseWriter, r *http.Request) {
	n := s.core.Kick(r.PathValue("user"))
	writeJSON(w, http.StatusOK, map[string]int{"closed": n})
}
