package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

// routes registers every endpoint. The names after a handler are the query
// parameters it accepts; any other is refused (see handle).
func (s *Server) routes() {
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.handle("GET /readyz", s.readyz)
	if s.opt.Metrics != nil && !s.opt.SeparateAdmin {
		s.mux.Handle("GET /metrics", s.opt.Metrics)
		s.patterns = append(s.patterns, "GET /metrics")
	}
	if s.opt.WebSocket != nil {
		s.mux.Handle("GET /v1/ws", s.opt.WebSocket)
		s.patterns = append(s.patterns, "GET /v1/ws")
	}
	if s.opt.MQTT != nil {
		s.mux.Handle("GET /mqtt", s.opt.MQTT)
		s.patterns = append(s.patterns, "GET /mqtt")
	}

	s.handle("POST /v1/register", s.register)
	s.handle("POST /v1/login", s.login)
	s.handle("POST /v1/refresh", s.refresh)
	s.handle("POST /v1/logout", s.authed(s.logout))
	s.handle("GET /v1/me", s.authed(s.me))
	s.handle("GET /v1/devices", s.authed(s.devices))
	s.handle("DELETE /v1/devices/{device}", s.authed(s.revokeDevice))
	s.handle("GET /v1/presence", s.authed(s.presence), "users")
	s.friendRoutes() // friends.go
	s.momentRoutes() // moments.go

	s.handle("GET /v1/conversations", s.authed(s.listConversations), "cursor", "limit")
	s.handle("POST /v1/conversations/direct", s.authed(s.direct))
	s.handle("POST /v1/groups", s.authed(s.createGroup))
	s.handle("GET /v1/conversations/{conv}", s.authed(s.conversation))
	s.handle("PATCH /v1/conversations/{conv}", s.authed(s.rename))
	s.handle("GET /v1/conversations/{conv}/messages", s.authed(s.history), "before", "after", "limit")
	s.handle("POST /v1/conversations/{conv}/messages", s.authed(s.sendToConv))
	s.handle("POST /v1/users/{user}/messages", s.authed(s.sendToUser))
	s.handle("PATCH /v1/conversations/{conv}/messages/{seq}", s.authed(s.edit))
	s.handle("DELETE /v1/conversations/{conv}/messages/{seq}", s.authed(s.deleteMessage), "client_msg_id")
	s.handle("POST /v1/conversations/{conv}/read", s.authed(s.read))
	s.handle("POST /v1/conversations/{conv}/ack", s.authed(s.ack))
	s.handle("POST /v1/conversations/{conv}/typing", s.authed(s.typing))
	s.handle("GET /v1/conversations/{conv}/members", s.authed(s.members))
	s.handle("POST /v1/conversations/{conv}/members", s.authed(s.addMember))
	s.handle("PATCH /v1/conversations/{conv}/members/{user}", s.authed(s.setRole))
	s.handle("DELETE /v1/conversations/{conv}/members/{user}", s.authed(s.removeMember))
	s.handle("POST /v1/conversations/{conv}/leave", s.authed(s.leave))
	s.handle("PATCH /v1/conversations/{conv}/retention", s.authed(s.setRetention))
	// Invitations, links, join requests and group settings (invites.go).
	s.handle("POST /v1/conversations/{conv}/invites", s.authed(s.invite))
	s.handle("GET /v1/conversations/{conv}/invites", s.authed(s.groupInvites), "after", "limit")
	s.handle("DELETE /v1/conversations/{conv}/invites/{user}", s.authed(s.revokeInvite))
	s.handle("GET /v1/invites", s.authed(s.myInvites), "after", "limit")
	s.handle("POST /v1/invites/{conv}/accept", s.authed(s.answerInvite(true)))
	s.handle("POST /v1/invites/{conv}/decline", s.authed(s.answerInvite(false)))
	s.handle("POST /v1/conversations/{conv}/links", s.authed(s.createLink))
	s.handle("GET /v1/conversations/{conv}/links", s.authed(s.links))
	s.handle("DELETE /v1/conversations/{conv}/links/{token}", s.authed(s.revokeLink))
	s.handle("POST /v1/join/{token}", s.authed(s.join))
	s.handle("GET /v1/conversations/{conv}/join-requests", s.authed(s.joinRequests), "after", "limit")
	s.handle("POST /v1/conversations/{conv}/join-requests/{user}/approve", s.authed(s.answerJoinRequest(true)))
	s.handle("POST /v1/conversations/{conv}/join-requests/{user}/deny", s.authed(s.answerJoinRequest(false)))
	s.handle("GET /v1/conversations/{conv}/settings", s.authed(s.groupSettings))
	s.handle("PATCH /v1/conversations/{conv}/settings", s.authed(s.updateGroupSettings))

	s.handle("GET /v1/blocks", s.authed(s.blocks), "after", "limit")
	s.handle("PUT /v1/blocks/{user}", s.authed(s.block))
	s.handle("DELETE /v1/blocks/{user}", s.authed(s.unblock))
	s.broadcastRoutes() // broadcast.go

	if !s.opt.SeparateAdmin { // else on AdminHandler's listener only
		for _, rt := range s.adminRoutes() {
			s.handle(rt.pattern, s.admin(rt.h), rt.query...)
		}
	}

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &protocol.Error{Code: http.StatusNotFound, Reason: "not_found", Message: "no such endpoint"})
	})
}

// maxCursor bounds a conversation-list cursor (an issued one is far shorter).
const maxCursor = 512

// validCursor checks the shape every issued cursor has (URL-safe base64
// without padding, bounded length); the store decodes the rest. Empty is
// valid: the first page.
func validCursor(c string) bool {
	if len(c) > maxCursor {
		return false
	}
	for i := 0; i < len(c); i++ {
		b := c[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.opt.Ready != nil && !s.opt.Ready() {
		writeError(w, &protocol.Error{Code: http.StatusServiceUnavailable, Reason: "not_ready"})
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}

type credentials struct {
	User        string `json:"user"`
	Password    string `json:"password"`
	Device      string `json:"device"`
	DisplayName string `json:"display_name"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := s.readJSON(w, r, &c); err != nil {
		writeError(w, err)
		return
	}
	u, err := s.core.Register(r.Context(), c.User, c.Password, c.DisplayName)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if err := s.readJSON(w, r, &c); err != nil {
		writeError(w, err)
		return
	}
	// Checked before the password, so a refused guess costs no hashing;
	// unknown and existing names are limited alike (no enumeration).
	attempt, err := s.logins.take(ratelimit.Key(s.clientIP(r)), c.User)
	if err != nil {
		var rl *rateLimitError
		if errors.As(err, &rl) {
			for _, l := range rl.limits {
				s.core.Metrics().RateLimited.WithLabelValues(l).Inc()
			}
			if rl.first {
				// Once per lockout, not per attempt. Not the account name:
				// people type passwords into that field.
				s.log.Warn("login rate limit reached", "limit", rl.by, "remote", s.remote(r))
			}
		}
		writeError(w, err)
		return
	}
	t, err := s.core.Login(r.Context(), c.User, c.Password, c.Device)
	// Failures count; so do successes, in a budget of their own; a login
	// refused before its password was checked (busy) counts in neither.
	attempt.done(err)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := s.readJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	t, err := s.core.Refresh(r.Context(), body.RefreshToken)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.Logout(r.Context(), id); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, id core.Identity) {
	writeJSON(w, http.StatusOK, map[string]string{"user": id.User, "device": id.Device})
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request, id core.Identity) {
	ds, err := s.core.Devices(r.Context(), id.User)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": ds})
}

func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.RevokeDevice(r.Context(), id.User, r.PathValue("device")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) presence(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var users []string
	if v := r.URL.Query().Get("users"); v != "" {
		users = strings.Split(v, ",")
	}
	ps, err := s.core.Presence(r.Context(), id.User, users)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"presence": ps})
}

func (s *Server) listConversations(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, s.core.HistoryPageMax())
	if err != nil {
		writeError(w, err)
		return
	}
	cursor := r.URL.Query().Get("cursor")
	if !validCursor(cursor) {
		writeError(w, &core.FieldError{Field: "cursor", Reason: "is not a cursor this server issued (pass the next value of a previous page)"})
		return
	}
	l, err := s.core.Conversations(r.Context(), id.User, cursor, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

func (s *Server) direct(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var body struct {
		User string `json:"user"`
	}
	if err := s.readJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	if err := core.ValidateUserID(body.User); err != nil || body.User == id.User {
		writeError(w, &core.FieldError{Field: "user", Reason: "must be a valid user id other than yours"})
		return
	}
	conv, err := s.core.Direct(r.Context(), id.User, body.User)
	if err == nil {
		var c protocol.Conversation
		if c, err = s.core.Conversation(r.Context(), id.User, conv); err == nil {
			writeJSON(w, http.StatusOK, c)
			return
		}
	}
	writeError(w, err)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var body struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
		Invite  []string `json:"invite"`
	}
	if err := s.readJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	c, err := s.core.CreateGroup(r.Context(), id, body.Name, body.Members, body.Invite...)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) conversation(w http.ResponseWriter, r *http.Request, id core.Identity) {
	c, err := s.core.Conversation(r.Context(), id.User, r.PathValue("conv"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) rename(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var body struct {
		Name string `json:"name"`
	}
	if err := s.readJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	s.writeAck(w, http.StatusOK)(s.core.Rename(r.Context(), id, r.PathValue("conv"), body.Name))
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, id core.Identity) {
	before, err1 := queryUint(r, "before")
	after, err2 := queryUint(r, "after")
	limit, err3 := queryLimit(r, s.core.HistoryPageMax())
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			writeError(w, err)
			return
		}
	}
	p, err := s.core.History(r.Context(), id.User, core.HistoryRequest{Conv: r.PathValue("conv"), Before: before, After: after, Limit: limit})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

type sendBody struct {
	ClientMsgID string          `json:"client_msg_id"`
	ContentType string          `json:"content_type"`
	Body        string          `json:"body"`
	Payload     json.RawMessage `json:"payload"`
	Encrypted   bool            `json:"encrypted"`
}

func (s *Server) sendToConv(w http.ResponseWriter, r *http.Request, id core.Identity) {
	s.send(w, r, id, r.PathValue("conv"), "")
}

func (s *Server) sendToUser(w http.ResponseWriter, r *http.Request, id core.Identity) {
	s.send(w, r, id, "", r.PathValue("user"))
}

// send answers 201 with the acknowledgement after the commit, or 200 with
// the original acknowledgement for a repeated client message id.
func (s *Server) send(w http.ResponseWriter, r *http.Request, id core.Identity, conv, to string) {
	var b sendBody
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	if b.ClientMsgID == "" {
		writeError(w, &core.FieldError{Field: "client_msg_id", Reason: "is required (a UUID chosen by the client)"})
		return
	}
	ack, err := s.core.Send(r.Context(), id, core.SendRequest{Conv: conv, To: to, ClientMsgID: b.ClientMsgID,
		ContentType: b.ContentType, Body: b.Body, Payload: b.Payload, Encrypted: b.Encrypted})
	s.writeAck(w, http.StatusCreated)(ack, err)
}

// writeAck returns a function that writes an acknowledgement or an error.
func (s *Server) writeAck(w http.ResponseWriter, status int) func(protocol.Ack, error) {
	return func(ack protocol.Ack, err error) {
		if err != nil {
			writeError(w, err)
			return
		}
		if ack.Duplicate {
			status = http.StatusOK
		}
		writeJSON(w, status, ack)
	}
}

func (s *Server) edit(w http.ResponseWriter, r *http.Request, id core.Identity) {
	seq, err := pathSeq(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var b sendBody
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	s.writeAck(w, http.StatusOK)(s.core.Edit(r.Context(), id, r.PathValue("conv"), seq, b.ClientMsgID, b.Body))
}

func (s *Server) deleteMessage(w http.ResponseWriter, r *http.Request, id core.Identity) {
	seq, err := pathSeq(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeAck(w, http.StatusOK)(s.core.Delete(r.Context(), id, r.PathValue("conv"), seq, r.URL.Query().Get("client_msg_id")))
}

type seqBody struct {
	Seq uint64 `json:"seq"`
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b seqBody
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	st, err := s.core.Read(r.Context(), id, r.PathValue("conv"), b.Seq)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b seqBody
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	if err := s.core.Ack(r.Context(), id, r.PathValue("conv"), b.Seq); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) typing(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.Typing(r.Context(), id, r.PathValue("conv")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) members(w http.ResponseWriter, r *http.Request, id core.Identity) {
	ms, err := s.core.Members(r.Context(), id.User, r.PathValue("conv"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": ms})
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		User string `json:"user"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	s.writeAck(w, http.StatusCreated)(s.core.AddMember(r.Context(), id, r.PathValue("conv"), b.User))
}

func (s *Server) setRole(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		Role string `json:"role"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	s.writeAck(w, http.StatusOK)(s.core.SetRole(r.Context(), id, r.PathValue("conv"), r.PathValue("user"), b.Role))
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, id core.Identity) {
	s.writeAck(w, http.StatusOK)(s.core.RemoveMember(r.Context(), id, r.PathValue("conv"), r.PathValue("user")))
}

func (s *Server) leave(w http.ResponseWriter, r *http.Request, id core.Identity) {
	s.writeAck(w, http.StatusOK)(s.core.Leave(r.Context(), id, r.PathValue("conv")))
}
