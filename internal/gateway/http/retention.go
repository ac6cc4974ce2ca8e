package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// retentionBody is the body of PATCH /v1/conversations/{conv}/retention.
// max_age is a Go duration string ("720h", "90m") or a whole number of
// seconds; 0 or "0s" returns to the server's setting.
type retentionBody struct {
	MaxAge json.RawMessage `json:"max_age"`
}

// parseMaxAge reads max_age in either of its forms.
func parseMaxAge(raw json.RawMessage) (time.Duration, error) {
	bad := &core.FieldError{Field: "max_age", Reason: `must be a duration such as "720h" or a whole number of seconds`}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, &core.FieldError{Field: "max_age", Reason: `is required (0 returns to the server's setting)`}
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, bad
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return d, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/int64(time.Second) {
		return 0, bad
	}
	return time.Duration(n) * time.Second, nil
}

// setRetention sets a conversation's own retention and answers with the
// conversation (its max_age in seconds).
func (s *Server) setRetention(w http.ResponseWriter, r *http.Request, id core.Identity) {
	var b retentionBody
	if err := s.readJSON(w, r, &b); err != nil {
		writeError(w, err)
		return
	}
	d, err := parseMaxAge(b.MaxAge)
	if err != nil {
		writeError(w, err)
		return
	}
	c, err := s.core.SetRetention(r.Context(), id, r.PathValue("conv"), d)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// adminDeleteUser erases an account: 204, also for an account deleted
// before; 404 for an unknown one.
func (s *Server) adminDeleteUser(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	if err := s.core.DeleteUser(r.Context(), user); err != nil {
		writeError(w, err)
		return
	}
	s.log.Info("admin: user deleted", "user", user)
	w.WriteHeader(http.StatusNoContent)
}

// adminExportUser streams a user's data as one JSON object,
//
//	{"user":User,"devices":[Device],"conversations":[Conversation],"messages":[Message]}
//
// writing the messages as they are read from the store, so that the export
// of a prolific user never sits in memory. Errors before the first byte get
// the usual error response; a failure while streaming aborts the response,
// so that a client never takes a cut-off export for a complete one.
func (s *Server) adminExportUser(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("user")
	exp, err := s.core.ExportUser(r.Context(), user)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	head := []struct {
		key string
		v   any
	}{{"user", exp.User}, {"devices", exp.Devices}, {"conversations", exp.Conversations}}
	for i, f := range head {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		if err := writeField(bw, sep, f.key, f.v); err != nil {
			s.abortExport(user, err)
		}
	}
	_, _ = bw.WriteString(`,"messages":[`)
	n := 0
	err = exp.Messages(r.Context(), func(m *protocol.Message) error {
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		if n > 0 {
			_ = bw.WriteByte(',')
		}
		n++
		_, err = bw.Write(b)
		return err
	})
	if err != nil {
		s.abortExport(user, err)
	}
	_, _ = bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		s.abortExport(user, err)
	}
	s.log.Info("admin: user exported", "user", user, "messages", n)
}

// writeField writes sep, then "key": and the JSON of v.
func writeField(bw *bufio.Writer, sep, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, _ = bw.WriteString(sep + strconv.Quote(key) + ":")
	_, err = bw.Write(b)
	return err
}

// abortExport ends an export that failed after its status was sent: the
// connection is cut (http.ErrAbortHandler), so the body is not valid JSON.
func (s *Server) abortExport(user string, err error) {
	s.log.Warn("admin: export failed", "user", user, "err", err)
	panic(http.ErrAbortHandler)
}
