package httpapi

import (
	"net/http"

	"github.com/parley-im/parley/internal/core"
)

// Blocking (docs/protocol.md §5.3, PUT, DELETE and GET /v1/blocks). A
// user's blocks are their own: each endpoint acts on the caller's list.

// block answers PUT /v1/blocks/{user}: 204 once the block holds, also if
// it held already.
func (s *Server) block(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.Block(r.Context(), id.User, r.PathValue("user")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// unblock answers DELETE /v1/blocks/{user}: 204, also if there was no
// block.
func (s *Server) unblock(w http.ResponseWriter, r *http.Request, id core.Identity) {
	if err := s.core.Unblock(r.Context(), id.User, r.PathValue("user")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// blocks answers GET /v1/blocks?after=&limit= with a BlockList.
func (s *Server) blocks(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.BlockListPageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.core.BlockList(r.Context(), id.User, r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}
