package httpapi

import (
	"net/http"

	"github.com/parley-im/parley/internal/core"
)

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
