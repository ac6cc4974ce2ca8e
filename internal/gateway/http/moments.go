package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Follows and moments (docs/protocol.md §5.3: /v1/follows, /v1/followers,
// /v1/following, /v1/moments, /v1/users/{user}/moments).

// momentRoutes registers the endpoints of follows and moments; the names
// after a handler are the query parameters it accepts.
func (s *Server) momentRoutes() {
	s.handle("POST /v1/follows/{user}", s.authed(s.follow))
	s.handle("DELETE /v1/follows/{user}", s.authed(s.unfollow))
	s.handle("DELETE /v1/followers/{user}", s.authed(s.removeFollower), "notify")
	s.handle("GET /v1/followers", s.authed(s.followList(s.core.Followers)), "after", "limit")
	s.handle("GET /v1/following", s.authed(s.followList(s.core.Following)), "after", "limit")

	s.handle("POST /v1/moments", s.authed(s.postMoment))
	s.handle("GET /v1/moments/feed", s.authed(s.feed), "cursor", "limit")
	s.handle("GET /v1/users/{user}/moments", s.authed(s.userMoments), "cursor", "limit")
	s.handle("GET /v1/moments/{moment}", s.authed(s.moment))
	s.handle("DELETE /v1/moments/{moment}", s.authed(s.deleteMoment))
	s.handle("POST /v1/moments/{moment}/comments", s.authed(s.comment))
	s.handle("GET /v1/moments/{moment}/comments", s.authed(s.comments), "after", "limit")
	s.handle("DELETE /v1/moments/{moment}/comments/{comment}", s.authed(s.deleteComment))
	s.handle("PUT /v1/moments/{moment}/like", s.authed(s.like(true)))
	s.handle("DELETE /v1/moments/{moment}/like", s.authed(s.like(false)))
	s.handle("GET /v1/moments/{moment}/likes", s.authed(s.likes), "after", "limit")
}

// follow answers POST /v1/follows/{user}: 204 once the follow holds, also
// if it held already.
func (s *Server) follow(w http.ResponseWriter, r *http.Request, id core.Identity) {
	noContent(w, s.core.Follow(r.Context(), id, r.PathValue("user")))
}

// unfollow answers DELETE /v1/follows/{user}: 204, also if there was no
// follow.
func (s *Server) unfollow(w http.ResponseWriter, r *http.Request, id core.Identity) {
	noContent(w, s.core.Unfollow(r.Context(), id, r.PathValue("user")))
}

// removeFollower answers DELETE /v1/followers/{user}?notify=true: 204;
// with notify the removed follower gets the "unsub" entry.
func (s *Server) removeFollower(w http.ResponseWriter, r *http.Request, id core.Identity) {
	notify := false
	if v := r.URL.Query().Get("notify"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, &core.FieldError{Field: "notify", Reason: "must be true or false"})
			return
		}
		notify = b
	}
	noContent(w, s.core.RemoveFollower(r.Context(), id, r.PathValue("user"), notify))
}

// followList answers GET /v1/followers and /v1/following with a
// FollowList.
func (s *Server) followList(list func(ctx context.Context, user, after string, limit int) (protocol.FollowList, error)) func(http.ResponseWriter, *http.Request, core.Identity) {
	return func(w http.ResponseWriter, r *http.Request, id core.Identity) {
		limit, err := queryLimit(r, core.FollowPageMax)
		if err != nil {
			writeError(w, err)
			return
		}
		l, err := list(r.Context(), id.User, r.URL.Query().Get("after"), limit)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, l)
	}
}

// postMoment answers POST /v1/moments (a MomentPost) with 201 and the
// Moment; a repeated client_msg_id with 200 and the first one, duplicate
// set.
func (s *Server) postMoment(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var p protocol.MomentPost
	if err := s.readJSON(w, r, &p); err != nil {
		writeError(w, err)
		return
	}
	m, err := s.core.PostMoment(r.Context(), id, p)
	if err != nil {
		writeError(w, err)
		return
	}
	status := http.StatusCreated
	if m.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, m)
}

// feed answers GET /v1/moments/feed?cursor=&limit= with a MomentPage.
func (s *Server) feed(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.MomentPageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.core.Feed(r.Context(), id.User, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// userMoments answers GET /v1/users/{user}/moments?cursor=&limit= with a
// MomentPage of the moments of user the caller may see.
func (s *Server) userMoments(w http.ResponseWriter, r *http.Request, id core.Identity) {
	limit, err := queryLimit(r, core.MomentPageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.core.UserMoments(r.Context(), id.User, r.PathValue("user"), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// pathID reads a positive integer path value.
func pathID(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, &core.FieldError{Field: name, Reason: "must be a positive integer"}
	}
	return n, nil
}

// moment answers GET /v1/moments/{moment} with the Moment.
func (s *Server) moment(w http.ResponseWriter, r *http.Request, id core.Identity) {
	mid, err := pathID(r, "moment")
	if err != nil {
		writeError(w, err)
		return
	}
	m, err := s.core.Moment(r.Context(), id.User, mid)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// deleteMoment answers DELETE /v1/moments/{moment}: 204.
func (s *Server) deleteMoment(w http.ResponseWriter, r *http.Request, id core.Identity) {
	mid, err := pathID(r, "moment")
	if err != nil {
		writeError(w, err)
		return
	}
	noContent(w, s.core.DeleteMoment(r.Context(), id, mid))
}

// comment answers POST /v1/moments/{moment}/comments {text} with 201 and
// the MomentComment.
func (s *Server) comment(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b struct {
		Text string `json:"text"`
	}
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	mid, err := pathID(r, "moment")
	if err != nil {
		writeError(w, err)
		return
	}
	c, err := s.core.Comment(r.Context(), id, mid, b.Text)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// comments answers GET /v1/moments/{moment}/comments?after=&limit= with a
// MomentCommentPage.
func (s *Server) comments(w http.ResponseWriter, r *http.Request, id core.Identity) {
	mid, err := pathID(r, "moment")
	if err != nil {
		writeError(w, err)
		return
	}
	limit, err := queryLimit(r, core.MomentCommentPageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			writeError(w, &core.FieldError{Field: "after", Reason: "must be a comment id"})
			return
		}
	}
	p, err := s.core.Comments(r.Context(), id.User, mid, after, limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// deleteComment answers DELETE /v1/moments/{moment}/comments/{comment}:
// 204.
func (s *Server) deleteComment(w http.ResponseWriter, r *http.Request, id core.Identity) {
	mid, err := pathID(r, "moment")
	if err != nil {
		writeError(w, err)
		return
	}
	cid, err := pathID(r, "comment")
	if err != nil {
		writeError(w, err)
		return
	}
	noContent(w, s.core.DeleteComment(r.Context(), id, mid, cid))
}

// like answers PUT (like) and DELETE (take back) /v1/moments/{moment}/like:
// 204, also when nothing changed.
func (s *Server) like(like bool) func(http.ResponseWriter, *http.Request, core.Identity) {
	return func(w http.ResponseWriter, r *http.Request, id core.Identity) {
		mid, err := pathID(r, "moment")
		if err != nil {
			writeError(w, err)
			return
		}
		noContent(w, s.core.Like(r.Context(), id, mid, like))
	}
}

// likes answers GET /v1/moments/{moment}/likes?after=&limit= with a
// MomentLikeList.
func (s *Server) likes(w http.ResponseWriter, r *http.Request, id core.Identity) {
	mid, err := pathID(r, "moment")
	if err != nil {
		writeError(w, err)
		return
	}
	limit, err := queryLimit(r, core.MomentLikePageMax)
	if err != nil {
		writeError(w, err)
		return
	}
	l, err := s.core.Likes(r.Context(), id.User, mid, r.URL.Query().Get("after"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, l)
}

// noContent answers 204, or the error.
func noContent(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
