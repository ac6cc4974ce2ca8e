package httpapi

import (
	"net/http"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Broadcasts and broadcast lists (docs/protocol.md §5.3: /v1/broadcasts,
// /v1/broadcast-lists).

// broadcastRoutes registers the endpoints of broadcasts; the names after
// a handler are the query parameters it accepts.
func (s *Server) broadcastRoutes() {
	s.handle("POST /v1/broadcasts", s.authed(s.broadcast))
	s.handle("GET /v1/broadcast-lists", s.authed(s.broadcastLists), "after", "limit")
	s.handle("POST /v1/broadcast-lists", s.authed(s.createBroadcastList))
	s.handle("GET /v1/broadcast-lists/{list}", s.authed(s.broadcastList))
	s.handle("PATCH /v1/broadcast-lists/{list}", s.authed(s.renameBroadcastList))
	s.handle("DELETE /v1/broadcast-lists/{list}", s.authed(s.deleteBroadcastList))
	s.handle("GET /v1/broadcast-lists/{list}/members", s.authed(s.broadcastMembers), "after", "limit")
	s.handle("POST /v1/broadcast-lists/{list}/members", s.authed(s.changeBroadcastList))
}

// broadcast answers POST /v1/broadcasts with a BroadcastResult: 201 if it
// stored a copy, 200 if it stored none (a retry, or every recipient
// skipped).
func (s *Server) broadcast(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b protocol.BroadcastRequest
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.core.Broadcast(r.Context(), id, b)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if res.Stored > 0 {
		status = http.StatusCreated
	}
	writeJSON(w, status, res)
}

// broadcastLists answers GET /v1/broadcast-lists?after=&limit= with a
// BroadcastListPage.
func (s *Server) broadcastLists(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.BroadcastPageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.core.BroadcastLists(r.Context(), id.User, r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// createBroadcastList answers POST /v1/broadcast-lists {list, name,
// members} with 201 and the BroadcastList.
func (s *Server) createBroadcastList(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b protocol.BroadcastListCreate
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	s.writeList(w, http.StatusCreated)(s.core.CreateBroadcastList(r.Context(), id.User, b))
}

// broadcastList answers GET /v1/broadcast-lists/{list} with the
// BroadcastList.
func (s *Server) broadcastList(w http.ResponseWriter, r *http.Request, id core.Identity) {
	s.writeList(w, http.StatusOK)(s.core.BroadcastList(r.Context(), id.User, r.PathValue("list")))
}

// renameBroadcastList answers PATCH /v1/broadcast-lists/{list} {name} with
// the BroadcastList.
func (s *Server) renameBroadcastList(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		Name string `json:"name"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	s.writeList(w, http.StatusOK)(s.core.RenameBroadcastList(r.Context(), id.User, r.PathValue("list"), b.Name))
}

// deleteBroadcastList answers DELETE /v1/broadcast-lists/{list}: 204.
func (s *Server) deleteBroadcastList(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.DeleteBroadcastList(r.Context(), id.User, r.PathValue("list")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// broadcastMembers answers GET /v1/broadcast-lists/{list}/members with a
// BroadcastMemberPage.
func (s *Server) broadcastMembers(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.BroadcastPageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.core.BroadcastMembers(r.Context(), id.User, r.PathValue("list"), r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// changeBroadcastList answers POST /v1/broadcast-lists/{list}/members
// {add, remove} with the BroadcastList after the change.
func (s *Server) changeBroadcastList(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b protocol.BroadcastListChange
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	if len(b.Add) == 0 && len(b.Remove) == 0 {
		writeError(w, &core.FieldError{Field: "add", Reason: "is required (or remove)"})
		return
	}
	s.writeList(w, http.StatusOK)(s.core.ChangeBroadcastList(r.Context(), id.User, r.PathValue("list"), b))
}

// writeList returns a function that writes a list or an error.
func (s *Server) writeList(w http.ResponseWriter, status int) func(protocol.BroadcastList, error) {
	return func(l protocol.BroadcastList, err error) {
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, status, l)
	}
}
