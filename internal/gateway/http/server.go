package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/gateway/jsonlimit"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

// Options configure the HTTP API.
type Options struct {
	// MaxBodyBytes bounds request bodies (decoded bytes).
	MaxBodyBytes int64
	// JSONMaxDepth bounds the nesting of objects and arrays in a body.
	JSONMaxDepth int
	// AdminKey authenticates the admin API; empty disables it.
	AdminKey string
	// AdminFailuresPerMinute bounds failed admin authentications per
	// client address (a token bucket); zero or less: 10.
	AdminFailuresPerMinute int
	// SeparateAdmin serves the admin API and /metrics only on the handler
	// AdminHandler returns, for a listener of their own, and not on the
	// public one.
	SeparateAdmin bool
	// Ready reports whether the server is ready to serve (for /readyz).
	Ready func() bool
	// Metrics serves /metrics; nil: not served.
	Metrics http.Handler
	// WebSocket serves /v1/ws; nil: not served.
	WebSocket http.Handler
	// MQTT serves MQTT over WebSocket at /mqtt; nil: not served.
	MQTT http.Handler
	// AllowedOrigins lists the browser origins (scheme://host[:port]) that
	// get CORS access; "*" allows any. Empty: no CORS headers at all.
	AllowedOrigins []string
	// LoginPerIPPerMinute and LoginPerAccountPerMinute bound failed
	// password logins per client address and per account name (token
	// buckets); zero or less: 30 and 10.
	LoginPerIPPerMinute      int
	LoginPerAccountPerMinute int
	// LoginSuccessPerAccountPerMinute bounds successful password logins
	// per account name; zero or less: 60.
	LoginSuccessPerAccountPerMinute int
	// Logins, if not nil, is the limiter to use instead of one made from
	// the limits above: one shared with the MQTT gateway keeps one budget
	// of passwords per address and account across protocols.
	Logins *Logins
	// Requests admits plain API requests per client address (those
	// served by handle: not the WebSocket and MQTT upgrades, which pass
	// their own gate, nor /metrics); nil admits all.
	Requests *ratelimit.IPGate
	// RequestTimeout bounds reading a request's body and writing its
	// response; zero: no bound.
	RequestTimeout time.Duration
	// Registerer takes the API's request metrics; nil: not exported.
	Registerer prometheus.Registerer
	// Proxies are the trusted reverse proxies: behind one, the client
	// address (for the login limit and the logs) is taken from
	// X-Forwarded-For. nil: the TCP peer is the client.
	Proxies *ratelimit.Proxies
	Logger  *slog.Logger
}

// Server is the HTTP API.
type Server struct {
	core Core
	opt  Options
	log  *slog.Logger
	mux  *http.ServeMux
	// logins limits failed password logins.
	logins *loginLimiter
	// patterns lists the served "METHOD /path" patterns.
	patterns []string
	// adminFails limits failed admin authentications per address.
	adminFails *adminLimiter
	// metrics count requests by route.
	metrics *routeMetrics
}

// New returns the HTTP API handler on c (the roles in Core; the app passes
// its *core.Core).
func New(c Core, opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = 1 << 20
	}
	if opt.JSONMaxDepth <= 0 {
		opt.JSONMaxDepth = 32
	}
	if opt.LoginPerIPPerMinute <= 0 {
		opt.LoginPerIPPerMinute = 30
	}
	if opt.LoginPerAccountPerMinute <= 0 {
		opt.LoginPerAccountPerMinute = 10
	}
	if opt.LoginSuccessPerAccountPerMinute <= 0 {
		opt.LoginSuccessPerAccountPerMinute = 60
	}
	if opt.Logins == nil {
		opt.Logins = NewLogins(opt.LoginPerIPPerMinute, opt.LoginPerAccountPerMinute, opt.LoginSuccessPerAccountPerMinute)
	}
	s := &Server{core: c, opt: opt, log: opt.Logger, mux: http.NewServeMux(), logins: opt.Logins.l,
		metrics: newRouteMetrics(opt.Registerer)}
	if opt.AdminFailuresPerMinute <= 0 {
		opt.AdminFailuresPerMinute = 10
	}
	s.opt.AdminFailuresPerMinute = opt.AdminFailuresPerMinute
	s.adminFails = newAdminLimiter(opt.AdminFailuresPerMinute)
	c.Metrics().RateLimited.WithLabelValues(limitAdmin) // exported from zero
	s.routes()
	return s
}

// ServeHTTP answers CORS preflights, refuses credentials in the URL on
// every path (the WebSocket endpoint included) and routes the rest.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/ws" && s.cors(w, r) {
		return
	}
	if name, ok := credentialParam(r); ok {
		// Log the parameter's name, never its value or the query string.
		s.log.Warn("credentials in the URL refused", "method", r.Method, "path", r.URL.Path, "param", name, "remote", s.remote(r))
		writeError(w, errTokenInURL)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// clientIP is the address of the client that made r (ratelimit.Proxies).
func (s *Server) clientIP(r *http.Request) netip.Addr { return s.opt.Proxies.ClientIP(r) }

// remote renders the client address of r for logs.
func (s *Server) remote(r *http.Request) string { return ratelimit.String(s.clientIP(r)) }

// Routes lists the served "METHOD /path" patterns (for the OpenAPI check).
func (s *Server) Routes() []string { return append([]string(nil), s.patterns...) }

// handle routes pattern to h. query lists the query parameters the
// endpoint accepts: a request with any other, a repeated one or a malformed
// query string is refused with 400 before h runs (checkQuery).
func (s *Server) handle(pattern string, h http.HandlerFunc, query ...string) {
	s.mux.HandleFunc(pattern, func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w := &codeWriter{ResponseWriter: rw}
		defer func() { s.metrics.observe(pattern, w.status(), time.Since(start)) }()
		r = r.WithContext(core.WithProtocol(r.Context(), core.ProtoHTTP))
		release, err := s.opt.Requests.Admit(ratelimit.Key(s.clientIP(r)))
		if err != nil {
			writeError(w, err)
			return
		}
		defer release()
		if d := s.opt.RequestTimeout; d > 0 {
			// A client that trickles its body or does not read the
			// response holds a connection for at most d.
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(d))
			_ = rc.SetWriteDeadline(time.Now().Add(d))
		}
		if err := checkQuery(r, query); err != nil {
			writeError(w, err)
			return
		}
		h(w, r)
	})
	s.patterns = append(s.patterns, pattern)
}

// authed wraps a handler that needs a user's access token.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, core.Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			writeError(w, core.ErrUnauthorized)
			return
		}
		id, err := s.core.Authenticate(r.Context(), tok, r.Header.Get("X-Parley-Device"))
		if err != nil {
			writeError(w, err)
			return
		}
		h(w, r, id)
	}
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

// errBodyTooLarge and errMediaType are request-body failures.
var (
	errBodyTooLarge = errors.New("request body too large")
	errMediaType    = errors.New("content type must be application/json, without content encoding")
)

// readJSON decodes the request body into v. Unknown fields are ignored.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errMediaType
		}
	} else {
		return errMediaType
	}
	// Compressed bodies are refused, not decoded: the size limit then
	// always applies to the bytes that are parsed, and no decompression
	// bomb is ever inflated.
	if enc := r.Header.Values("Content-Encoding"); len(enc) > 1 || len(enc) == 1 && !strings.EqualFold(strings.TrimSpace(enc[0]), "identity") {
		return errMediaType
	}
	if r.ContentLength > s.opt.MaxBodyBytes {
		return errBodyTooLarge // refused before reading a byte
	}
	body := http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errBodyTooLarge
		}
		return &core.FieldError{Field: "body", Reason: "could not be read"}
	}
	checkErr := jsonlimit.Check(data, s.opt.JSONMaxDepth, jsonlimit.FieldsOf(v))
	if errors.Is(checkErr, jsonlimit.ErrTooDeep) {
		return &core.FieldError{Field: "body", Reason: fmt.Sprintf("is nested deeper than %d levels", s.opt.JSONMaxDepth)}
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &core.FieldError{Field: te.Field, Reason: fmt.Sprintf("must be %s", te.Type)}
		}
		return &core.FieldError{Field: "body", Reason: "is not valid JSON"}
	}
	// A key given twice would mean one value here (encoding/json keeps
	// the last) and maybe another to a proxy or log reader on the way:
	// refused, as on WebSocket.
	var dup *jsonlimit.DuplicateKeyError
	if errors.As(checkErr, &dup) {
		return &core.FieldError{Field: dup.Field, Reason: "appears more than once (keys match case-insensitively)"}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// errorBody is the one shape of every error response.
type errorBody struct {
	Error *protocol.Error `json:"error"`
}

func writeError(w http.ResponseWriter, err error) {
	var pe *protocol.Error
	var rl *rateLimitError
	var le *ratelimit.Error
	switch {
	case errors.As(err, &rl):
		pe = core.ToProtocol(err)
		pe.Message = rl.Error()
		w.Header().Set("Retry-After", strconv.Itoa(rl.seconds()))
	case errors.As(err, &le):
		pe = core.ToProtocol(err) // with retry_after_ms
		w.Header().Set("Retry-After", strconv.Itoa(le.RetryAfterSeconds()))
	case errors.Is(err, core.ErrBusy):
		pe = core.ToProtocol(err) // 503 with retry_after_ms
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((pe.RetryAfterMS+999)/1000))))
	case errors.Is(err, errBodyTooLarge):
		pe = &protocol.Error{Code: protocol.CodeTooLarge, Reason: "too_large", Message: err.Error()}
	case errors.Is(err, errMediaType):
		pe = &protocol.Error{Code: 415, Reason: "unsupported_media_type", Message: err.Error()}
	case errors.As(err, &pe):
	default:
		pe = core.ToProtocol(err)
	}
	status := pe.Code
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
	}
	writeJSON(w, status, errorBody{Error: pe})
}

// queryUint parses an optional unsigned query parameter.
// queryUint parses an optional non-negative integer; nil when absent.
func queryUint(r *http.Request, name string) (*uint64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, &core.FieldError{Field: name, Reason: "must be a non-negative integer"}
	}
	return &n, nil
}

// queryLimit parses an optional limit in [1, max].
func queryLimit(r *http.Request, maxLimit int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxLimit {
		return 0, &core.FieldError{Field: "limit", Reason: fmt.Sprintf("must be between 1 and %d", maxLimit)}
	}
	return n, nil
}

func pathSeq(r *http.Request) (uint64, error) {
	n, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || n == 0 {
		return 0, &core.FieldError{Field: "seq", Reason: "must be a positive integer"}
	}
	return n, nil
}
