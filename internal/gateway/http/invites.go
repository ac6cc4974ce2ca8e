package httpapi

import (
	"net/http"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Group invitations, invite links, join requests and group settings
// (docs/protocol.md §5.3); the routes are registered in routes.go.

// invite answers POST /v1/conversations/{conv}/invites {users} with an
// InviteResult.
func (s *Server) invite(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		Users []string `json:"users"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.core.Invite(r.Context(), id, r.PathValue("conv"), b.Users)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// groupInvites answers GET /v1/conversations/{conv}/invites?after=&limit=
// with an InvitationList.
func (s *Server) groupInvites(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.InvitePageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.core.GroupInvites(r.Context(), id.User, r.PathValue("conv"), r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// revokeInvite answers DELETE /v1/conversations/{conv}/invites/{user}: 204.
func (s *Server) revokeInvite(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.RevokeInvite(r.Context(), id, r.PathValue("conv"), r.PathValue("user")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// myInvites answers GET /v1/invites?after=&limit= with the caller's
// pending invitations.
func (s *Server) myInvites(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.InvitePageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.core.UserInvites(r.Context(), id.User, r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// answerInvite answers POST /v1/invites/{conv}/accept with the Ack of the
// joined entry, and /decline with 204.
func (s *Server) answerInvite(accept bool) func(http.ResponseWriter, *http.Request, core.Identity) {
	return func(w http.ResponseWriter, r *http.Request, id core.Identity) {
		ack, err := s.core.AnswerInvite(r.Context(), id, r.PathValue("conv"), accept)
		writeJoined(w, accept, ack, err)
	}
}

// writeJoined writes the answer to an acceptance or approval (200 with the
// joined entry's Ack) or a decline or denial (204).
func writeJoined(w http.ResponseWriter, joined bool, ack protocol.Ack, err error) {
	switch {
	case err != nil:
		writeError(w, err)
	case joined:
		writeJSON(w, http.StatusOK, ack)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// createLink answers POST /v1/conversations/{conv}/links {expires_in,
// max_uses} with 201 and the InviteLink.
func (s *Server) createLink(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		ExpiresIn int64 `json:"expires_in"`
		MaxUses   int   `json:"max_uses"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	l, err := s.core.CreateLink(r.Context(), id, r.PathValue("conv"), core.LinkTTLSeconds(b.ExpiresIn), b.MaxUses)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, l)
}

// links answers GET /v1/conversations/{conv}/links with an
// InviteLinkList.
func (s *Server) links(w http.ResponseWriter, r *http.Request, id core.Identity) {
	l, err := s.core.Links(r.Context(), id.User, r.PathValue("conv"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// revokeLink answers DELETE /v1/conversations/{conv}/links/{token}: 204.
func (s *Server) revokeLink(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.RevokeLink(r.Context(), id, r.PathValue("conv"), r.PathValue("token")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// join answers POST /v1/join/{token} with a JoinResult.
func (s *Server) join(w http.ResponseWriter, r *http.Request, id core.Identity) {
	res, err := s.core.Join(r.Context(), id, r.PathValue("token"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// joinRequests answers GET /v1/conversations/{conv}/join-requests?after=&limit=
// with a JoinRequestList.
func (s *Server) joinRequests(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.InvitePageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.core.JoinRequests(r.Context(), id.User, r.PathValue("conv"), r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// answerJoinRequest answers POST
// /v1/conversations/{conv}/join-requests/{user}/approve with the Ack of the
// joined entry, and /deny with 204.
func (s *Server) answerJoinRequest(approve bool) func(http.ResponseWriter, *http.Request, core.Identity) {
	return func(w http.ResponseWriter, r *http.Request, id core.Identity) {
		ack, err := s.core.AnswerJoinRequest(r.Context(), id, r.PathValue("conv"), r.PathValue("user"), approve)
		writeJoined(w, approve, ack, err)
	}
}

// groupSettings answers GET /v1/conversations/{conv}/settings with
// GroupSettings.
func (s *Server) groupSettings(w http.ResponseWriter, r *http.Request, id core.Identity) {
	st, err := s.core.GroupSettings(r.Context(), id.User, r.PathValue("conv"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// updateGroupSettings answers PATCH /v1/conversations/{conv}/settings
// {join_approval} with GroupSettings after the change.
func (s *Server) updateGroupSettings(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		JoinApproval *bool `json:"join_approval"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	st, err := s.core.UpdateGroupSettings(r.Context(), id, r.PathValue("conv"), core.GroupSettingsUpdate{JoinApproval: b.JoinApproval})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
