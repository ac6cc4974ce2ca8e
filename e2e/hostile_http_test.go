package e2e

// Hostile HTTP input: rows H1–H8 of BAD_INPUTS.md, each against a real
// in-process server.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
	parley "github.com/parley-im/parley/sdk/go"
)

// lockedBuffer is a log sink shared by the server's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServerWithLog starts a server like startServer whose log, at debug
// level, is captured in the returned buffer.
func startServerWithLog(t *testing.T, mutate func(*config.Config)) (*server, *lockedBuffer) {
	t.Helper()
	cfg := testConfig(t)
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	s := &server{t: t, app: a, cfg: cfg, URL: "http://" + a.Addr()}
	t.Cleanup(func() { s.stop() })
	return s, logs
}

// response is what a hostile request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// rawDo sends req with client (nil: a fresh one) and reads the whole answer.
func rawDo(t *testing.T, client *http.Client, req *http.Request) response {
	t.Helper()
	if client == nil {
		client = &http.Client{Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
	}
	resp, err := client.Do(req.WithContext(ctxT(t)))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// newReq builds a request; rawURL is used as given (no re-escaping).
func newReq(t *testing.T, method, rawURL string, body io.Reader, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

// apiErr decodes the one error shape; it fails the test on any other.
func apiErr(t *testing.T, r response) (code int, reason, field, message string) {
	t.Helper()
	var eb struct {
		Error *struct {
			Code    int    `json:"code"`
			Reason  string `json:"reason"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error == nil {
		t.Fatalf("status %d: body %q is not {\"error\":{...}}", r.status, r.body)
	}
	if eb.Error.Code != r.status {
		t.Fatalf("status %d but error code %d: %s", r.status, eb.Error.Code, r.body)
	}
	return eb.Error.Code, eb.Error.Reason, eb.Error.Field, eb.Error.Message
}

// noSQLText fails if a response body looks like it carries a database error.
func noSQLText(t *testing.T, what string, body []byte) {
	t.Helper()
	low := strings.ToLower(string(body))
	for _, s := range []string{"sql", "syntax", "no such table", "no such column", "near \"", "constraint", "unrecognized token", "drop table"} {
		if strings.Contains(low, s) {
			t.Errorf("%s: body contains %q: %s", what, s, body)
		}
	}
}

// setupChat makes alice and bob with a direct conversation of n messages
// and returns alice's API and the conversation id.
func setupChat(t *testing.T, s *server, n int) (*parley.API, string) {
	t.Helper()
	s.user("alice")
	s.user("bob")
	alice := s.login("alice", "phone")
	var conv string
	for i := range n {
		ack, err := alice.Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: fmt.Sprintf("m%d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		conv = ack.Conv
	}
	return alice, conv
}

// H1: SQL-looking values in query parameters are refused (400) or match
// nothing (an empty result); no answer carries database error text, and
// the data is intact afterwards.
func TestHostileHTTP_H1_InjectionInQueryParams(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	alice, conv := setupChat(t, s, 3)
	hostile := []string{
		"1;DROP TABLE messages", "1; DROP TABLE messages; --", "' OR 1=1--", "1' OR '1'='1", "\x00", "1\x00",
		"\u201c1\u201d", "\u2018 OR \u20181\u2019=\u20191", "1 UNION SELECT password_hash FROM users", "\"; --",
	}
	// Each value goes in twice: %-escaped (a value the handler sees) and
	// raw (";" unescaped is a separator the server must not half-parse).
	type probe struct {
		name, path, param, token string
		emptyJSONList            string // the list that must be empty on 200; "" means 200 is wrong
	}
	probes := []probe{
		{"history before", "/v1/conversations/" + conv + "/messages", "before", alice.Token, ""},
		{"history after", "/v1/conversations/" + conv + "/messages", "after", alice.Token, ""},
		{"history limit", "/v1/conversations/" + conv + "/messages", "limit", alice.Token, ""},
		{"conversations cursor", "/v1/conversations", "cursor", alice.Token, ""},
		{"presence users", "/v1/presence", "users", alice.Token, "presence"},
		{"admin users after", "/v1/admin/users", "after", adminKey, "users"},
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	for _, p := range probes {
		for _, v := range hostile {
			for _, raw := range []bool{false, true} {
				q := p.param + "=" + url.QueryEscape(v)
				if raw {
					q = p.param + "=" + strings.NewReplacer(" ", "%20", "\x00", "%00", "#", "%23").Replace(v)
				}
				what := fmt.Sprintf("%s ?%s", p.name, q)
				r := rawDo(t, client, newReq(t, "GET", s.URL+p.path+"?"+q, nil, "Authorization", "Bearer "+p.token))
				noSQLText(t, what, r.body)
				switch {
				case r.status == http.StatusBadRequest:
					if _, reason, field, _ := apiErr(t, r); reason != "bad_request" || field == "" {
						t.Errorf("%s: 400 without a field: %s", what, r.body)
					}
				case r.status == http.StatusOK && p.emptyJSONList != "":
					var out map[string][]json.RawMessage
					if err := json.Unmarshal(r.body, &out); err != nil || len(out[p.emptyJSONList]) != 0 {
						t.Errorf("%s: 200 with a non-empty %s: %s", what, p.emptyJSONList, r.body)
					}
				default:
					t.Errorf("%s: status %d, want 400 or an empty 200: %s", what, r.status, r.body)
				}
			}
		}
	}

	// The same values as path segments: refused (400) or absent (404).
	for _, v := range hostile {
		seg := url.PathEscape(v)
		for _, p := range []struct{ method, path, token string }{
			{"GET", "/v1/conversations/" + seg + "/messages", alice.Token},
			{"GET", "/v1/conversations/g_" + seg, alice.Token},
			{"POST", "/v1/users/" + seg + "/messages", alice.Token},
			{"DELETE", "/v1/devices/" + seg, alice.Token},
			{"POST", "/v1/admin/users/" + seg + "/disable", adminKey},
		} {
			status, b := httpDo(t, p.method, s.URL+p.path, p.token, map[string]string{"client_msg_id": parley.NewClientMsgID(), "body": "x"})
			noSQLText(t, p.method+" "+p.path, b)
			if status != http.StatusBadRequest && status != http.StatusNotFound {
				t.Errorf("%s %s: status %d, want 400 or 404: %s", p.method, p.path, status, b)
			}
		}
	}

	// The data is intact: every message, every user, and the store writes.
	page, err := alice.History(ctxT(t), conv, parley.HistoryOptions{})
	if err != nil || len(page.Messages) != 3 || page.Messages[2].Body != "m3" {
		t.Fatalf("history after the probes: %v %+v", err, page)
	}
	status, b := httpDo(t, "GET", s.URL+"/v1/admin/users", adminKey, nil)
	if status != 200 || !strings.Contains(string(b), `"id":"alice"`) || !strings.Contains(string(b), `"id":"bob"`) {
		t.Fatalf("users after the probes: %d %s", status, b)
	}
	if ack, err := alice.Send(ctxT(t), conv, parley.SendOptions{Body: "still here"}); err != nil || ack.Seq != 4 {
		t.Fatalf("send after the probes: %v %+v", err, ack)
	}
	// And a legitimate page still works alongside (a group makes bob a
	// contact whose presence alice may see).
	if _, err := alice.CreateGroup(ctxT(t), "pals", "bob"); err != nil {
		t.Fatal(err)
	}
	if r := rawDo(t, client, newReq(t, "GET", s.URL+"/v1/presence?users=bob", nil, "Authorization", "Bearer "+alice.Token)); r.status != 200 || !strings.Contains(string(r.body), `"user":"bob"`) {
		t.Fatalf("legitimate presence query: %d %s", r.status, r.body)
	}
}

// H2: ordering and field selection are not client-controlled: a query
// parameter the endpoint does not accept is a 400 naming it (a per-route
// whitelist in routes.go), never silently ignored.
func TestHostileHTTP_H2_UnknownQueryParamsRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	alice, conv := setupChat(t, s, 2)
	history := "/v1/conversations/" + conv + "/messages"
	tests := []struct {
		path, query, token, field, mention string
	}{
		{history, "order=seq%20desc;%20--", alice.Token, "query", ""},         // raw ";": malformed
		{history, "order=seq%20desc%3B%20--", alice.Token, "order", "before"}, // escaped: unknown
		{history, "sort=password", alice.Token, "sort", "limit"},
		{"/v1/conversations", "sort=password", alice.Token, "sort", "cursor"},
		{"/v1/conversations", "order=updated_at%20asc", alice.Token, "order", "cursor"},
		{"/v1/admin/users", "sort=password", adminKey, "sort", "after"},
		{"/v1/admin/users", "fields=password_hash", adminKey, "fields", "after"},
		{"/v1/me", "fields=role", alice.Token, "fields", "no query parameters"},
		{"/v1/devices", "user=bob", alice.Token, "user", "no query parameters"},
		{history, "limit=1&limit=300", alice.Token, "limit", "repeated"},
		{history, "limit=1&LIMIT=300", alice.Token, "LIMIT", ""},
		{history, "limit=%zz", alice.Token, "query", ""},
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()
	for _, tt := range tests {
		r := rawDo(t, client, newReq(t, "GET", s.URL+tt.path+"?"+tt.query, nil, "Authorization", "Bearer "+tt.token))
		if r.status != http.StatusBadRequest {
			t.Errorf("%s?%s: status %d, want 400: %s", tt.path, tt.query, r.status, r.body)
			continue
		}
		_, reason, field, msg := apiErr(t, r)
		if reason != "bad_request" || field != tt.field || !strings.Contains(msg, tt.mention) {
			t.Errorf("%s?%s: {reason %q field %q message %q}, want field %q mentioning %q", tt.path, tt.query, reason, field, msg, tt.field, tt.mention)
		}
		noSQLText(t, tt.query, r.body)
	}
	// The whitelisted parameters still work.
	r := rawDo(t, client, newReq(t, "GET", s.URL+history+"?after=1&limit=5", nil, "Authorization", "Bearer "+alice.Token))
	if r.status != 200 || !strings.Contains(string(r.body), `"body":"m2"`) || strings.Contains(string(r.body), `"body":"m1"`) {
		t.Fatalf("history?after=1&limit=5: %d %s", r.status, r.body)
	}
}

// H3: a 10 MB body is refused with 413 (announced or chunked), a wrong
// Content-Type with 415, and a compressed body (a gzip bomb) with 415
// without being inflated: the size limit applies to the bytes parsed,
// and compressed bodies are never decoded.
func TestHostileHTTP_H3_BodiesTooLargeWrongTypeGzipBomb(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	tok := s.login("alice", "phone").Token
	big := []byte(`{"user":"alice","password":"` + strings.Repeat("x", 10<<20) + `"}`)

	for _, tt := range []struct {
		name, path, token string
		chunked           bool
	}{
		{"login, Content-Length", "/v1/login", "", false},
		{"login, chunked", "/v1/login", "", true},
		{"send, Content-Length", "/v1/users/bob/messages", tok, false},
		{"send, chunked", "/v1/users/bob/messages", tok, true},
	} {
		var body io.Reader = bytes.NewReader(big)
		if tt.chunked {
			body = io.MultiReader(body) // hides the length: Transfer-Encoding: chunked
		}
		req := newReq(t, "POST", s.URL+tt.path, body, "Content-Type", "application/json")
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		r := rawDo(t, nil, req)
		if r.status != http.StatusRequestEntityTooLarge {
			t.Errorf("10 MB body, %s: status %d, want 413: %.200s", tt.name, r.status, r.body)
			continue
		}
		if _, reason, _, _ := apiErr(t, r); reason != "too_large" {
			t.Errorf("10 MB body, %s: reason %q", tt.name, reason)
		}
	}

	login := `{"user":"alice","password":"password-alice"}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/json", "application/json-patch+json", "application/xml"} {
		r := rawDo(t, nil, newReq(t, "POST", s.URL+"/v1/login", strings.NewReader(login), "Content-Type", ct))
		if r.status != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: status %d, want 415: %s", ct, r.status, r.body)
		} else if _, reason, _, _ := apiErr(t, r); reason != "unsupported_media_type" {
			t.Errorf("Content-Type %q: reason %q", ct, reason)
		}
	}

	// A gzip bomb: 64 MiB of JSON in a few KiB, as concatenated gzip
	// members (valid gzip; each member is compressed once). Also a small,
	// honest gzip body: compression is refused as such, not for its size.
	gz := func(p []byte) []byte {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(p)
		zw.Close()
		return b.Bytes()
	}
	var bomb bytes.Buffer
	bomb.Write(gz([]byte(`{"user":"alice","password":"`)))
	mib := gz(bytes.Repeat([]byte("a"), 1<<20))
	for range 64 {
		bomb.Write(mib)
	}
	bomb.Write(gz([]byte(`"}`)))
	small := bytes.NewBuffer(gz([]byte(login)))
	if bomb.Len() > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed; want it under the body limit", bomb.Len())
	}
	for _, tt := range []struct {
		name, enc string
		body      []byte
	}{
		{"bomb gzip", "gzip", bomb.Bytes()},
		{"bomb GZIP", "GZIP", bomb.Bytes()},
		{"bomb x-gzip", "x-gzip", bomb.Bytes()},
		{"bomb gzip, identity", "gzip, identity", bomb.Bytes()},
		{"small gzip", "gzip", small.Bytes()},
		{"deflate", "deflate", small.Bytes()},
		{"br", "br", small.Bytes()},
	} {
		r := rawDo(t, nil, newReq(t, "POST", s.URL+"/v1/login", bytes.NewReader(tt.body), "Content-Type", "application/json", "Content-Encoding", tt.enc))
		if r.status != http.StatusUnsupportedMediaType {
			t.Errorf("%s: status %d, want 415: %.200s", tt.name, r.status, r.body)
		} else if _, _, _, msg := apiErr(t, r); !strings.Contains(msg, "encoding") {
			t.Errorf("%s: message %q does not say that encoding is refused", tt.name, msg)
		}
	}
	// Two Content-Encoding headers, one of them identity: still refused.
	req := newReq(t, "POST", s.URL+"/v1/login", bytes.NewReader(small.Bytes()), "Content-Type", "application/json")
	req.Header.Add("Content-Encoding", "identity")
	req.Header.Add("Content-Encoding", "gzip")
	if r := rawDo(t, nil, req); r.status != http.StatusUnsupportedMediaType {
		t.Errorf("identity + gzip headers: status %d, want 415", r.status)
	}
	// identity is no encoding: the login goes through.
	if r := rawDo(t, nil, newReq(t, "POST", s.URL+"/v1/login", strings.NewReader(login), "Content-Type", "application/json", "Content-Encoding", "identity")); r.status != 200 {
		t.Errorf("Content-Encoding identity: status %d: %s", r.status, r.body)
	}
}

// H4: CORS answers only allow-listed origins, echoing the origin (never
// "*") and never Access-Control-Allow-Credentials (tokens are bearer
// headers, not cookies); other origins get no CORS headers at all.
func TestHostileHTTP_H4_CORS(t *testing.T) {
	t.Parallel()
	const good = "https://app.example"
	s := startServer(t, func(c *config.Config) { c.HTTP.AllowedOrigins = []string{good} })
	s.user("alice")
	tok := s.login("alice", "phone").Token

	noCredentials := func(what string, r response) {
		t.Helper()
		if v := r.header.Get("Access-Control-Allow-Credentials"); v != "" {
			t.Errorf("%s: Access-Control-Allow-Credentials %q", what, v)
		}
		if r.header.Get("Access-Control-Allow-Origin") == "*" {
			t.Errorf("%s: Access-Control-Allow-Origin *", what)
		}
	}
	noCORS := func(what string, r response) {
		t.Helper()
		noCredentials(what, r)
		for k := range r.header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: CORS header %s: %q", what, k, r.header.Get(k))
			}
		}
	}
	preflight := func(origin, method, headers string) response {
		return rawDo(t, nil, newReq(t, "OPTIONS", s.URL+"/v1/conversations", nil,
			"Origin", origin, "Access-Control-Request-Method", method, "Access-Control-Request-Headers", headers))
	}

	for _, evil := range []string{"https://evil.example", "null", "http://app.example", "https://app.example.evil.example",
		"https://evil.example/https://app.example", "https://app.example:444", "file://", "https://APP.example.evil.example"} {
		r := preflight(evil, "GET", "authorization")
		noCORS("preflight from "+evil, r)
		if r.status != http.StatusForbidden {
			t.Errorf("preflight from %s: status %d, want 403", evil, r.status)
		}
		// A credentialed request (bearer token and a cookie) from the evil
		// origin: served (CORS is not access control) but unreadable by
		// the page, since no CORS header allows it.
		r = rawDo(t, nil, newReq(t, "GET", s.URL+"/v1/me", nil, "Origin", evil, "Authorization", "Bearer "+tok, "Cookie", "session=stolen"))
		noCORS("credentialed GET from "+evil, r)
		if !strings.Contains(r.header.Get("Vary"), "Origin") {
			t.Errorf("GET from %s: Vary %q lacks Origin", evil, r.header.Get("Vary"))
		}
		r = rawDo(t, nil, newReq(t, "POST", s.URL+"/v1/login", strings.NewReader(`{"user":"alice","password":"password-alice"}`),
			"Origin", evil, "Content-Type", "application/json", "Cookie", "session=stolen"))
		noCORS("credentialed POST from "+evil, r)
	}

	// The allowed origin: a full preflight answer.
	r := preflight(good, "POST", "authorization, content-type")
	noCredentials("preflight from "+good, r)
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != good {
		t.Fatalf("preflight from %s: %d, Allow-Origin %q", good, r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	methods, headers := r.header.Get("Access-Control-Allow-Methods"), strings.ToLower(r.header.Get("Access-Control-Allow-Headers"))
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if !strings.Contains(methods, m) {
			t.Errorf("Allow-Methods %q lacks %s", methods, m)
		}
	}
	for _, h := range []string{"authorization", "content-type"} {
		if !strings.Contains(headers, h) {
			t.Errorf("Allow-Headers %q lacks %s", headers, h)
		}
	}
	if strings.Contains(methods, "*") || strings.Contains(headers, "*") {
		t.Errorf("wildcards in Allow-Methods %q / Allow-Headers %q", methods, headers)
	}
	if v := r.header.Values("Vary"); !strings.Contains(strings.Join(v, ","), "Origin") {
		t.Errorf("preflight Vary %q lacks Origin", v)
	}
	// An actual request from the allowed origin can read the answer,
	// including Retry-After on a 429.
	r = rawDo(t, nil, newReq(t, "GET", s.URL+"/v1/me", nil, "Origin", good, "Authorization", "Bearer "+tok))
	noCredentials("GET from "+good, r)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != good || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("GET from %s: %d %v", good, r.status, r.header)
	}

	// Even with "*" on the allow-list, the answer names the origin and
	// allows no credentials.
	anyOrigin := startServer(t, func(c *config.Config) { c.HTTP.AllowedOrigins = []string{"*"} })
	r = rawDo(t, nil, newReq(t, "OPTIONS", anyOrigin.URL+"/v1/login", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST"))
	noCredentials("preflight with *", r)
	if r.header.Get("Access-Control-Allow-Origin") != "https://evil.example" {
		t.Errorf("allow-list *: Allow-Origin %q, want the origin echoed", r.header.Get("Access-Control-Allow-Origin"))
	}
	// And with no allow-list (the default), no origin gets CORS.
	none := startServer(t, nil)
	r = rawDo(t, nil, newReq(t, "OPTIONS", none.URL+"/v1/login", nil, "Origin", good, "Access-Control-Request-Method", "POST"))
	noCORS("preflight with no allow-list", r)
}

// H5: privileged or foreign fields in request bodies are ignored: there is
// no PATCH /users/me (nor PATCH /v1/me), registration cannot choose a role,
// another user's id or admin rights, a send cannot choose its sender, seq
// or id, and a member cannot promote itself.
func TestHostileHTTP_H5_PrivilegedFieldsIgnored(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")

	hostile := map[string]any{"role": "admin", "id": "alice", "admin": true, "is_admin": true, "disabled": false,
		"created_at": 1, "password_hash": "$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA"}
	withHostile := func(m map[string]any) map[string]any {
		for k, v := range hostile {
			m[k] = v
		}
		return m
	}
	status, b := httpDo(t, "POST", s.URL+"/v1/register", "", withHostile(map[string]any{"user": "mallory", "password": "password-mallory"}))
	if status != http.StatusCreated || !strings.Contains(string(b), `"id":"mallory"`) || strings.Contains(string(b), "admin") {
		t.Fatalf("register with privileged fields: %d %s", status, b)
	}
	// Registering over an existing account changes nothing of it.
	if status, b := httpDo(t, "POST", s.URL+"/v1/register", "", withHostile(map[string]any{"user": "alice", "password": "taken-over"})); status != http.StatusConflict {
		t.Fatalf("register as alice: %d %s", status, b)
	}
	if _, err := (&parley.API{BaseURL: s.URL}).Login(ctxT(t), "alice", "taken-over", "x"); err == nil {
		t.Fatal("alice's password was replaced")
	}
	s.login("alice", "phone") // her own password still works
	mallory := s.login("mallory", "phone")

	// Mallory has no admin rights, and /v1/me has no write method.
	if status, _ := httpDo(t, "GET", s.URL+"/v1/admin/users", mallory.Token, nil); status != http.StatusUnauthorized {
		t.Errorf("mallory on the admin API: %d, want 401", status)
	}
	for _, path := range []string{"/users/me", "/v1/users/me", "/v1/me"} {
		status, b := httpDo(t, "PATCH", s.URL+path, mallory.Token, map[string]any{"role": "admin", "id": "other", "display_name": "x"})
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("PATCH %s: %d %s, want 404 or 405", path, status, b)
		}
	}
	if status, b := httpDo(t, "GET", s.URL+"/v1/me", mallory.Token, nil); status != 200 || !strings.Contains(string(b), `"user":"mallory"`) {
		t.Fatalf("/v1/me after the attempts: %d %s", status, b)
	}

	// A send names neither its sender nor its seq nor its id.
	status, b = httpDo(t, "POST", s.URL+"/v1/users/bob/messages", mallory.Token, map[string]any{
		"client_msg_id": parley.NewClientMsgID(), "body": "hi", "from": "alice", "sender": "alice", "seq": 999, "id": "forged", "time": 1})
	var ack struct {
		Conv string `json:"conv"`
		Seq  uint64 `json:"seq"`
		ID   string `json:"id"`
	}
	if status != http.StatusCreated || json.Unmarshal(b, &ack) != nil || ack.Seq != 1 || ack.ID == "forged" {
		t.Fatalf("send with forged fields: %d %s", status, b)
	}
	page, err := mallory.History(ctxT(t), ack.Conv, parley.HistoryOptions{})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].From != "mallory" || page.Messages[0].ID == "forged" {
		t.Fatalf("stored message: %v %+v", err, page)
	}

	// A plain member cannot make itself owner or admin, nor rename.
	alice := s.login("alice", "laptop")
	g, err := alice.CreateGroup(ctxT(t), "team", "mallory")
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"owner", "admin"} {
		status, b := httpDo(t, "PATCH", s.URL+"/v1/conversations/"+g.ID+"/members/mallory", mallory.Token, map[string]any{"role": role, "user": "mallory"})
		if status != http.StatusForbidden {
			t.Errorf("mallory makes herself %s: %d %s, want 403", role, status, b)
		}
	}
	if status, b := httpDo(t, "PATCH", s.URL+"/v1/conversations/"+g.ID, mallory.Token, map[string]any{"name": "mine", "owner": "mallory", "role": "owner"}); status != http.StatusForbidden {
		t.Errorf("mallory renames with an owner field: %d %s, want 403", status, b)
	}
	ms, err := alice.Members(ctxT(t), g.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.User == "mallory" && m.Role != "member" {
			t.Errorf("mallory's role is %q", m.Role)
		}
	}
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip (Linux routes all of 127.0.0.0/8 to lo), so that one
// test can play several client addresses. It skips the test where that is
// impossible.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", "127.0.0.1:1") // probe: bind only; refusal is fine
	if err != nil && strings.Contains(err.Error(), "assign requested address") {
		t.Skipf("cannot bind %s on this system: %v", ip, err)
	}
	if c != nil {
		c.Close()
	}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// H6: failed logins are limited per client address and per account; after
// the limit every attempt answers 429 with Retry-After, before any password
// is checked, with the same body whether the account exists or not. A
// wrong password and an unknown user get byte-identical 401 bodies (the
// core also verifies a dummy hash for unknown users, so both cost the same
// work; timing is not asserted here). Successful logins do not count.
func TestHostileHTTP_H6_LoginRateLimit(t *testing.T) {
	t.Parallel()
	const perIP, perAccount = 6, 3
	s := startServer(t, func(c *config.Config) {
		c.RateLimits.LoginPerIPPerMinute = perIP
		c.RateLimits.LoginPerAccountPerMinute = perAccount
	})
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	login := func(c *http.Client, user, password string) response {
		body, _ := json.Marshal(map[string]string{"user": user, "password": password})
		return rawDo(t, c, newReq(t, "POST", s.URL+"/v1/login", bytes.NewReader(body), "Content-Type", "application/json"))
	}
	check429 := func(what string, r response) {
		t.Helper()
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("%s: status %d, want 429: %s", what, r.status, r.body)
		}
		if _, reason, _, _ := apiErr(t, r); reason != "rate_limited" {
			t.Fatalf("%s: reason %q", what, reason)
		}
		n, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || n < 1 || n > 60 {
			t.Fatalf("%s: Retry-After %q, want 1–60 seconds", what, r.header.Get("Retry-After"))
		}
	}
	a, b, c, d := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3"), clientFrom(t, "127.0.0.4"), clientFrom(t, "127.0.0.5")

	// Unknown user and wrong password: the same bytes.
	unknown, wrong := login(d, "nobody", "guess-1"), login(d, "bob", "guess-1")
	if unknown.status != 401 || wrong.status != 401 || !bytes.Equal(unknown.body, wrong.body) {
		t.Fatalf("unknown user %d %q vs wrong password %d %q: want identical 401s", unknown.status, unknown.body, wrong.status, wrong.body)
	}

	// Per account: alice's limit holds across addresses, and then even
	// her right password is not checked (it would be a free guess).
	for i := range perAccount {
		if r := login(a, "alice", fmt.Sprintf("guess-%d", i)); r.status != 401 {
			t.Fatalf("failed login %d of alice: %d %s", i, r.status, r.body)
		}
	}
	check429("alice over her limit, same address", login(a, "alice", "guess-x"))
	check429("alice over her limit, another address", login(b, "alice", "password-alice"))

	// Per address: 1,000 guesses at ever new names from one address are
	// checked only up to the address's limit, the rest refused unhashed.
	start := time.Now()
	var unauthorized, limited int
	var first429 response
	for i := range 1000 {
		switch r := login(c, fmt.Sprintf("ghost-%d", i), "guess"); r.status {
		case 401:
			unauthorized++
		case 429:
			if limited == 0 {
				first429 = r
			}
			limited++
		default:
			t.Fatalf("guess %d: status %d %s", i, r.status, r.body)
		}
	}
	// A bucket refills perIP per minute; allow for what refilled meanwhile.
	if most := perIP + int(time.Since(start).Minutes()*perIP) + 1; unauthorized < perIP || unauthorized > most {
		t.Fatalf("1,000 guesses from one address: %d checked, want %d to %d", unauthorized, perIP, most)
	}
	check429("guess past the address limit", first429)
	// The refusal reads the same for an existing account and an unknown
	// one, and for either limit.
	existing, ghost := login(c, "carol", "guess"), login(c, "ghost-new", "guess")
	check429("carol from the limited address", existing)
	check429("unknown user from the limited address", ghost)
	if !bytes.Equal(existing.body, ghost.body) || !bytes.Equal(existing.body, first429.body) {
		t.Fatalf("429 bodies differ: %q / %q / %q", existing.body, ghost.body, first429.body)
	}
	// alice's account bucket may have refilled a token or two while the
	// guesses above ran on a loaded machine: spend them, then compare.
	byAccount := login(b, "alice", "guess")
	for i := 0; byAccount.status == 401 && i < 20; i++ {
		byAccount = login(b, "alice", "guess")
	}
	if !bytes.Equal(byAccount.body, ghost.body) {
		t.Fatalf("account-limit 429 %q differs from address-limit 429 %q", byAccount.body, ghost.body)
	}

	// Successful logins do not count: more than either limit from one
	// address into one account all succeed.
	for i := range perIP + 2 {
		if r := login(d, "carol", "password-carol"); r.status != 200 {
			t.Fatalf("successful login %d of carol: %d %s", i, r.status, r.body)
		}
	}
}

// H7: out-of-range paging values are refused with 400 naming the field
// (limit is not silently capped), and the largest uint64 is a valid,
// merely empty, bound.
func TestHostileHTTP_H7_PagingRanges(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	alice, conv := setupChat(t, s, 3)
	history := "/v1/conversations/" + conv + "/messages"
	for _, tt := range []struct {
		path, query, token string
		status             int
		field              string
		messages           int // on 200: how many messages the page has (-1: not a history page)
	}{
		{history, "limit=1000000", alice.Token, 400, "limit", 0},
		{history, "limit=301", alice.Token, 400, "limit", 0},
		{history, "limit=-1", alice.Token, 400, "limit", 0},
		{history, "limit=0", alice.Token, 400, "limit", 0},
		{history, "limit=1e6", alice.Token, 400, "limit", 0},
		{history, "limit=99999999999999999999", alice.Token, 400, "limit", 0},
		{history, "limit=300", alice.Token, 200, "", 3},
		{history, "before=-1", alice.Token, 400, "before", 0},
		{history, "after=-5", alice.Token, 400, "after", 0},
		{history, "before=%2B5", alice.Token, 400, "before", 0},
		{history, "before=0x10", alice.Token, 400, "before", 0},
		{history, "before=18446744073709551616", alice.Token, 400, "before", 0},
		{history, "after=18446744073709551616", alice.Token, 400, "after", 0},
		{history, "after=99999999999999999999999999999999", alice.Token, 400, "after", 0},
		{history, "before=18446744073709551615", alice.Token, 200, "", 3},
		{history, "after=18446744073709551615", alice.Token, 200, "", 0},
		{history, "after=9223372036854775807", alice.Token, 200, "", 0},
		{history, "before=9223372036854775808", alice.Token, 200, "", 3},
		{history, "before=2&after=1", alice.Token, 400, "before", 0},
		{"/v1/conversations", "limit=1000000", alice.Token, 400, "limit", -1},
		{"/v1/conversations", "limit=-1", alice.Token, 400, "limit", -1},
		{"/v1/admin/users", "limit=1000000", adminKey, 400, "limit", -1},
		{"/v1/admin/users", "limit=-1", adminKey, 400, "limit", -1},
		{"/v1/admin/users", "limit=1000", adminKey, 200, "", -1},
	} {
		r := rawDo(t, nil, newReq(t, "GET", s.URL+tt.path+"?"+tt.query, nil, "Authorization", "Bearer "+tt.token))
		if r.status != tt.status {
			t.Errorf("%s?%s: status %d, want %d: %s", tt.path, tt.query, r.status, tt.status, r.body)
			continue
		}
		if tt.status != 200 {
			if _, _, field, _ := apiErr(t, r); field != tt.field {
				t.Errorf("%s?%s: field %q, want %q", tt.path, tt.query, field, tt.field)
			}
			continue
		}
		if tt.messages >= 0 {
			var p struct {
				Messages []json.RawMessage `json:"messages"`
			}
			if json.Unmarshal(r.body, &p) != nil || len(p.Messages) != tt.messages {
				t.Errorf("%s?%s: %s, want %d messages", tt.path, tt.query, r.body, tt.messages)
			}
		}
	}
	for _, seq := range []string{"18446744073709551616", "-1", "0"} {
		r := rawDo(t, nil, newReq(t, "DELETE", s.URL+history+"/"+seq, nil, "Authorization", "Bearer "+alice.Token))
		if r.status != 400 {
			t.Errorf("DELETE message %s: status %d, want 400", seq, r.status)
		}
	}
}

// H8: a token in the URL is refused (401) on every path, even next to a
// valid Authorization header, and never reaches the log; the server logs
// that it refused one, naming only the parameter.
func TestHostileHTTP_H8_TokenInURLRefusedAndNotLogged(t *testing.T) {
	t.Parallel()
	s, logs := startServerWithLog(t, nil)
	s.user("alice")
	tokens, err := (&parley.API{BaseURL: s.URL}).Login(ctxT(t), "alice", "password-alice", "phone")
	if err != nil {
		t.Fatal(err)
	}
	tok, refresh := tokens.AccessToken, tokens.RefreshToken
	esc := url.QueryEscape(tok)
	for _, tt := range []struct {
		method, path, query string
		header              bool // also send the token as a Bearer header
	}{
		{"GET", "/v1/me", "access_token=" + esc, false},
		{"GET", "/v1/me", "access_token=" + esc, true},
		{"GET", "/v1/me", "Access_Token=" + esc, false},
		{"GET", "/v1/me", "token=" + esc, false},
		{"GET", "/v1/me", "x=1;access_token=" + esc, false},
		{"GET", "/v1/me", "access%5Ftoken=" + esc, false},
		{"GET", "/v1/conversations", "limit=5&access_token=" + esc, false},
		{"GET", "/v1/ws", "access_token=" + esc, false},
		{"GET", "/v1/nope", "access_token=" + esc, false},
		{"POST", "/v1/logout", "access_token=" + esc, false},
		{"POST", "/v1/refresh", "refresh_token=" + url.QueryEscape(refresh), false},
		{"GET", "/v1/admin/users", "admin_key=" + adminKey, false},
	} {
		req := newReq(t, tt.method, s.URL+tt.path+"?"+tt.query, nil)
		if tt.header {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		r := rawDo(t, nil, req)
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s %s?%.30s…: status %d, want 401: %s", tt.method, tt.path, tt.query, r.status, r.body)
			continue
		}
		if _, reason, _, msg := apiErr(t, r); reason != "unauthorized" || !strings.Contains(msg, "Authorization header") {
			t.Errorf("%s %s: reason %q message %q", tt.method, tt.path, reason, msg)
		}
		if strings.Contains(string(r.body), tok) {
			t.Errorf("%s %s: the answer echoes the token", tt.method, tt.path)
		}
	}
	// The token was refused, not revoked: in the header it still works.
	if status, b := httpDo(t, "GET", s.URL+"/v1/me", tok, nil); status != 200 {
		t.Fatalf("token in the header afterwards: %d %s", status, b)
	}
	if status, b := httpDo(t, "POST", s.URL+"/v1/refresh", "", map[string]string{"refresh_token": refresh}); status != 200 {
		t.Fatalf("refresh token in the body afterwards: %d %s", status, b)
	}

	out := logs.String()
	if !strings.Contains(out, "credentials in the URL refused") || !strings.Contains(out, "param=access_token") {
		t.Fatalf("the log does not record the refusals (is it captured?):\n%s", out)
	}
	sig := tok[strings.LastIndex(tok, ".")+1:]
	for name, secret := range map[string]string{"access token": tok, "its escaped form": esc, "its signature": sig,
		"refresh token": refresh, "admin key": adminKey} {
		if len(secret) >= 16 && strings.Contains(out, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
}

// TestHostileHTTPDuplicateKeysRefused: a body naming a field twice (in any
// case) is refused with 400 naming the field, and nothing is stored, as on
// WebSocket (BAD_INPUTS J3).
func TestHostileHTTPDuplicateKeysRefused(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	alice := s.login("alice", "laptop")
	for _, body := range []string{
		`{"client_msg_id":"dup-1","body":"hi","body":"ho"}`,
		`{"client_msg_id":"dup-2","body":"hi","BODY":"ho"}`,
		`{"client_msg_id":"dup-3","client_msg_id":"dup-4","body":"hi"}`,
	} {
		r := rawDo(t, nil, newReq(t, "POST", s.URL+"/v1/users/bob/messages", strings.NewReader(body),
			"Content-Type", "application/json", "Authorization", "Bearer "+alice.Token))
		if r.status != http.StatusBadRequest {
			t.Fatalf("%s: %d %s, want 400", body, r.status, r.body)
		}
		if _, _, field, _ := apiErr(t, r); field != "body" && field != "client_msg_id" {
			t.Fatalf("%s: the error names %q, not the duplicated field", body, field)
		}
	}
	l, err := alice.Conversations(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Conversations) != 0 {
		t.Fatalf("a refused body stored something: %+v", l.Conversations)
	}
}

// TestHTTPRequestsAreBoundedPerAddressAndInTime: plain API requests pass a
// per-address gate (429 with Retry-After past http.requests_per_ip_per_minute)
// and a request that trickles its body is cut off after
// http.request_timeout instead of holding its connection.
func TestHTTPRequestsAreBoundedPerAddressAndInTime(t *testing.T) {
	t.Parallel()
	const perMinute = 20
	s := startServer(t, func(c *config.Config) {
		c.HTTP.RequestsPerIPPerMinute = perMinute
		c.HTTP.RequestTimeout = time.Second
	})
	s.user("alice")
	limited := false
	for i := 0; i < 3*perMinute && !limited; i++ {
		r := rawDo(t, nil, newReq(t, "GET", s.URL+"/healthz", nil))
		switch r.status {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			refused429(t, "a request past the per-address budget", r, 60)
			limited = true
		default:
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	if !limited {
		t.Fatalf("%d requests from one address in a row were all served with a budget of %d a minute", 3*perMinute, perMinute)
	}

	// A body promised and never sent: the connection does not stay open.
	s2 := startServer(t, func(c *config.Config) { c.HTTP.RequestTimeout = time.Second })
	conn, err := net.Dial("tcp", s2.app.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"user\":")
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the trickling request's connection was still open after 20 s with a 1 s request timeout: %v", err)
	}
}
