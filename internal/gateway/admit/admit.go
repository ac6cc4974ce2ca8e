package admit

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

// OriginAllowed reports whether a browser's Origin header value is on the
// allow-list. Entries are scheme://host[:port], compared case-insensitively
// and without a trailing slash; "*" allows any origin that has a host. An
// origin that does not parse or has no host ("null", "") is never allowed.
// The WebSocket gateway, the MQTT gateway's WebSocket endpoint and the HTTP
// API's CORS share the list.
func OriginAllowed(allowed []string, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	norm := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, o := range allowed {
		if o == "*" || strings.ToLower(strings.TrimSuffix(o, "/")) == norm {
			return true
		}
	}
	return false
}

// WriteTooMany writes the 429 of a request refused by a limit: Retry-After
// (when err is or wraps a *ratelimit.Error) and the HTTP API's error body,
// {"error": ...} as core.ToProtocol maps err. It writes the whole response;
// the caller writes nothing more.
func WriteTooMany(w http.ResponseWriter, err error) {
	var le *ratelimit.Error
	if errors.As(err, &le) {
		w.Header().Set("Retry-After", strconv.Itoa(le.RetryAfterSeconds()))
	}
	body, _ := json.Marshal(struct {
		Error *protocol.Error `json:"error"`
	}{core.ToProtocol(err)})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(append(body, '\n'))
}
