package httpapi

import (
	"net/http"

	"github.com/parley-im/parley/internal/core"
)

// Friends and settings (docs/protocol.md §5.3: /v1/friends, /v1/me/settings).

// friendRoutes registers the endpoints of friends and settings; the names
// after a handler are the query parameters it accepts.
func (s *Server) friendRoutes() {
	s.handle("POST /v1/friends/requests", s.authed(s.requestFriend))
	s.handle("GET /v1/friends/requests", s.authed(s.friendRequests), "direction", "after", "limit")
	s.handle("POST /v1/friends/requests/{user}/accept", s.authed(s.answerFriend(true)))
	s.handle("POST /v1/friends/requests/{user}/decline", s.authed(s.answerFriend(false)))
	s.handle("DELETE /v1/friends/requests/{user}", s.authed(s.withdrawFriend))
	s.handle("GET /v1/friends", s.authed(s.friends), "after", "limit")
	s.handle("DELETE /v1/friends/{user}", s.authed(s.unfriend))
	s.handle("GET /v1/me/settings", s.authed(s.settings))
	s.handle("PATCH /v1/me/settings", s.authed(s.updateSettings))
}

// requestFriend answers POST /v1/friends/requests {user, text} with a
// FriendStatus: pending, or friends when it crossed the other's request.
func (s *Server) requestFriend(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		User string `json:"user"`
		Text string `json:"text"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	st, err := s.core.RequestFriend(r.Context(), id, b.User, b.Text)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// answerFriend answers POST /v1/friends/requests/{user}/accept and
// /decline with a FriendStatus.
func (s *Server) answerFriend(accept bool) func(http.ResponseWriter, *http.Request, core.Identity) {
	return func(w http.ResponseWriter, r *http.Request, id core.Identity) {
		st, err := s.core.AnswerFriend(r.Context(), id, r.PathValue("user"), accept)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	}
}

// withdrawFriend answers DELETE /v1/friends/requests/{user}: 204.
func (s *Server) withdrawFriend(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.WithdrawFriend(r.Context(), id, r.PathValue("user")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// unfriend answers DELETE /v1/friends/{user}: 204.
func (s *Server) unfriend(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.Unfriend(r.Context(), id, r.PathValue("user")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// friends answers GET /v1/friends?after=&limit= with a FriendList.
func (s *Server) friends(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.FriendPageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.core.Friends(r.Context(), id.User, r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// friendRequests answers GET /v1/friends/requests?direction=in|out with a
// PendingFriendList.
func (s *Server) friendRequests(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.FriendPageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	var incoming bool
	switch q.Get("direction") {
	case "", "in":
		incoming = true
	case "out":
	default:
		writeError(w, &core.FieldError{Field: "direction", Reason: `must be "in" or "out"`})
		return
	}
	l, err := s.core.FriendRequests(r.Context(), id.User, incoming, q.Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// settings answers GET /v1/me/settings with Settings.
func (s *Server) settings(w http.ResponseWriter, r *http.Request, id core.Identity) {
	st, err := s.core.Settings(r.Context(), id.User)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// updateSettings answers PATCH /v1/me/settings {inbound, presence_hidden,
// group_add} (any may be left out) with the Settings after the change.
func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		Inbound        *string `json:"inbound"`
		PresenceHidden *bool   `json:"presence_hidden"`
		GroupAdd       *string `json:"group_add"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	st, err := s.core.UpdateSettings(r.Context(), id, core.SettingsUpdate{Inbound: b.Inbound, PresenceHidden: b.PresenceHidden, GroupAdd: b.GroupAdd})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
