package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWithRequestLog(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := WithRequestLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("short"))
	}), log, nil)
	for _, tc := range []struct {
		name, given string
		keep        bool
	}{
		{"client id kept", "abc-123_X.y", true},
		{"none given", "", false},
		{"unsafe id replaced", "a b\nc", false},
		{"too long replaced", strings.Repeat("a", 65), false},
	} {
		buf.Reset()
		req := httptest.NewRequest("GET", "/v1/me?access_token=should-not-appear", nil)
		if tc.given != "" {
			req.Header.Set(RequestIDHeader, tc.given)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		id := rec.Header().Get(RequestIDHeader)
		if tc.keep && id != tc.given || !tc.keep && (id == "" || id == tc.given) {
			t.Errorf("%s: response id %q for %q", tc.name, id, tc.given)
		}
		line := buf.String()
		if !strings.Contains(line, "request_id="+id) || !strings.Contains(line, "status=418") || !strings.Contains(line, "bytes=5") ||
			!strings.Contains(line, "path=/v1/me") || strings.Contains(line, "should-not-appear") {
			t.Errorf("%s: log line %q", tc.name, line)
		}
	}
}
