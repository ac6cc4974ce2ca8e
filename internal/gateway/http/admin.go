package httpapi

import (
	"net/http"

	"github.com/parley-im/parley/internal/core"
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
	return []route{
		{"GET /v1/admin/users", s.adminListUsers, []string{"after", "limit"}},
		{"POST /v1/admin/users", s.adminCreateUser, nil},
		{"POST /v1/admin/users/{user}/disable", s.adminSetDisabled(true), nil},
		{"POST /v1/admin/users/{user}/enable", s.adminSetDisabled(false), nil},
		{"POST /v1/admin/users/{user}/revoke", s.adminRevoke, nil},
		{"POST /v1/admin/users/{user}/kick", s.adminKick, nil},
		{"DELETE /v1/admin/users/{user}", s.adminDeleteUser, nil},
		{"GET /v1/admin/users/{user}/export", s.adminExportUser, nil},
	}
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
