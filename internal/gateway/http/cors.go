package httpapi

import (
	"net/http"
	"net/url"

	"github.com/parley-im/parley/internal/gateway/admit"
	"github.com/parley-im/parley/protocol"
)

// CORS: browsers on an allowed origin may call the API. Tokens travel in
// the Authorization header, never in cookies, so no response ever carries
// Access-Control-Allow-Credentials, and the allowed origin is echoed (never
// "*"). Requests from other origins are served without CORS headers: the
// browser then keeps the response from the page. CORS is not access
// control; authentication is.
const (
	corsMethods       = "GET, POST, PUT, PATCH, DELETE"
	corsHeaders       = "Authorization, Content-Type, X-Parley-Device"
	corsExposeHeaders = "Retry-After, WWW-Authenticate"
	corsMaxAge        = "600"
)

// originAllowed reports whether origin (an http or https
// scheme://host[:port]) is on the allow-list, compared as the WebSocket
// gateway compares it; "*" on the list allows any origin.
func originAllowed(allowed []string, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return admit.OriginAllowed(allowed, origin)
}

// cors adds the CORS headers of r's response and answers preflight
// requests; it reports whether it answered (the request is done).
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if preflight {
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	if !originAllowed(s.opt.AllowedOrigins, origin) {
		if preflight {
			s.log.Debug("cors preflight refused", "origin", origin, "path", r.URL.Path, "remote", s.remote(r))
			writeError(w, &protocol.Error{Code: http.StatusForbidden, Reason: "forbidden", Message: "origin not allowed"})
			return true
		}
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		return false
	}
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}
