package httpapi

import (
	"net/http"
	"strings"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// noticeAdmin is who the admin API creates notices as: the admin key is
// one admin (notices.per_minute is kept for it).
const noticeAdmin = "admin"

// noticeRoutes are the admin API of tags and system notices
// (docs/operations.md, "Tags and system notices").
func (s *Server) noticeRoutes() []route {
	return []route{
		{"GET /v1/admin/users/{user}/tags", s.adminUserTags, nil},
		{"PUT /v1/admin/users/{user}/tags", s.adminSetTags, nil},
		{"PATCH /v1/admin/users/{user}/tags", s.adminUpdateTags, nil},
		{"DELETE /v1/admin/users/{user}/tags/{key}", s.adminDeleteTag, nil},
		{"POST /v1/admin/tags", s.adminImportTags, nil},
		{"GET /v1/admin/tags/audience", s.adminAudience, []string{"to"}},
		{"POST /v1/admin/notices", s.adminSendNotice, nil},
		{"GET /v1/admin/notices", s.adminListNotices, []string{"before", "limit"}},
		{"GET /v1/admin/notices/{notice}", s.adminNotice, nil},
		{"POST /v1/admin/notices/{notice}/cancel", s.adminCancelNotice, nil},
	}
}

// answer writes v (status 200) or err.
func answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) adminUserTags(w http.ResponseWriter, r *http.Request) {
	tags, err := s.core.UserTags(r.Context(), r.PathValue("user"))
	answer(w, tags, err)
}

func (s *Server) adminSetTags(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Tags map[string]string `json:"tags"`
	}
	if err := s.readJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	if body.Tags == nil {
		// A body without it (a misspelt field) must not clear every tag.
		writeError(w, &core.FieldError{Field: "tags", Reason: `is required ({"tags":{}} removes every tag)`})
		return
	}
	tags, err := s.core.SetTags(r.Context(), r.PathValue("user"), body.Tags)
	answer(w, tags, err)
}

func (s *Server) adminUpdateTags(w http.ResponseWriter, r *http.Request) {
	var body protocol.TagsUpdate
	if err := s.readJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	tags, err := s.core.UpdateTags(r.Context(), r.PathValue("user"), body.Set, body.Delete)
	answer(w, tags, err)
}

func (s *Server) adminDeleteTag(w http.ResponseWriter, r *http.Request) {
	tags, err := s.core.UpdateTags(r.Context(), r.PathValue("user"), nil, []string{r.PathValue("key")})
	answer(w, tags, err)
}

func (s *Server) adminImportTags(w http.ResponseWriter, r *http.Request) {
	var body protocol.TagsImport
	if err := s.readJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	res, err := s.core.ImportTags(r.Context(), body)
	answer(w, res, err)
}

func (s *Server) adminAudience(w http.ResponseWriter, r *http.Request) {
	a, err := s.core.Audience(r.Context(), r.URL.Query().Get("to"))
	answer(w, a, err)
}

func (s *Server) adminSendNotice(w http.ResponseWriter, r *http.Request) {
	var body protocol.NoticeRequest
	if err := s.readJSON(w, r, &body); err != nil {
		writeError(w, err)
		return
	}
	n, err := s.core.SendNotice(r.Context(), noticeAdmin, body)
	if err != nil {
		writeError(w, err)
		return
	}
	// Accepted: stored, and sent in the background; its URL tells how far.
	w.Header().Set("Location", "/v1/admin/notices/"+n.ID)
	writeJSON(w, http.StatusAccepted, n)
}

func (s *Server) adminListNotices(w http.ResponseWriter, r *http.Request) {
	limit, err := queryLimit(r, 100)
	if err != nil {
		writeError(w, err)
		return
	}
	if limit == 0 {
		limit = 20
	}
	before := r.URL.Query().Get("before")
	if before != "" && !validNoticeID(before) {
		writeError(w, &core.FieldError{Field: "before", Reason: "must be a notice id (the next of the previous page)"})
		return
	}
	list, err := s.core.Notices(r.Context(), before, limit)
	answer(w, list, err)
}

func (s *Server) adminNotice(w http.ResponseWriter, r *http.Request) {
	n, err := s.core.Notice(r.Context(), r.PathValue("notice"))
	answer(w, n, err)
}

func (s *Server) adminCancelNotice(w http.ResponseWriter, r *http.Request) {
	n, err := s.core.CancelNotice(r.Context(), r.PathValue("notice"))
	answer(w, n, err)
}

// validNoticeID reports whether id has the shape of a notice id.
func validNoticeID(id string) bool {
	rest, ok := strings.CutPrefix(id, "n_")
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
