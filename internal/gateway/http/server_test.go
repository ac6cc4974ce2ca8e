package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/internal/core"
	httpapi "github.com/parley-im/parley/internal/gateway/http"
)

const (
	adminKey     = "test-admin-key-0123456789abcdef"
	maxBodyBytes = 4096
)

// env is an HTTP API on a running core with a fresh SQLite store.
type env struct {
	srv   *httpapi.Server
	ts    *httptest.Server
	core  *core.Core
	ready atomic.Bool
	token string // alice's access token (device phone)
}

func newEnv(t *testing.T, mutate ...func(*config.Config)) *env {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Limits.MaxMessageBytes = 1024
	for _, m := range mutate {
		m(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	st, err := app.OpenStore(cfg, log)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	c, err := app.NewCore(cfg, st, log, nil)
	if err != nil {
		st.Close()
		t.Fatalf("new core: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("core run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("core did not stop")
		}
		st.Close()
	})

	e := &env{core: c}
	e.ready.Store(true)
	e.srv = httpapi.New(c, httpapi.Options{
		MaxBodyBytes: maxBodyBytes, AdminKey: adminKey, Ready: e.ready.Load,
		Metrics:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "stub metrics") }),
		WebSocket: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "stub ws") }),
		MQTT:      http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "stub mqtt") }),
		// The checks of every route fail the admin key many times from
		// one address; TestAdminFailuresLimited tests the limit.
		AdminFailuresPerMinute: 1_000_000,
	})
	e.ts = httptest.NewServer(e.srv)
	t.Cleanup(e.ts.Close)

	bg := context.Background()
	if _, err := c.CreateUser(bg, "alice", "alice-password", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(bg, "bob", "bob-password", ""); err != nil {
		t.Fatal(err)
	}
	tok, err := c.OpenSession(bg, "alice", "phone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.token = tok.AccessToken
	return e
}

type request struct {
	method, path string
	body         string
	header       map[string]string // "Authorization": "user" means alice's token
}

func (e *env) do(t *testing.T, r request) *http.Response {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, e.ts.URL+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		if k == "Authorization" && v == "user" {
			v = "Bearer " + e.token
		}
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// apiError is the decoded body of an error response.
type apiError struct {
	Code    int
	Reason  string
	Message string
	Field   string
}

// checkErrorShape checks the one error shape and returns the error.
func checkErrorShape(t *testing.T, resp *http.Response) apiError {
	t.Helper()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json (body %s)", ct, raw)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", raw, err)
	}
	if len(top) != 1 || top["error"] == nil {
		t.Fatalf("body %s: want exactly {\"error\":{...}}", raw)
	}
	var fields map[string]any
	if err := json.Unmarshal(top["error"], &fields); err != nil {
		t.Fatalf("error %s is not an object: %v", top["error"], err)
	}
	for k := range fields {
		switch k {
		case "code", "reason", "message", "field":
		default:
			t.Errorf("error has unexpected key %q: %s", k, raw)
		}
	}
	var e apiError
	if err := json.Unmarshal(top["error"], &e); err != nil {
		t.Fatalf("error %s: %v", top["error"], err)
	}
	if _, ok := fields["code"].(float64); !ok || e.Reason == "" {
		t.Errorf("error %s lacks a numeric code or a reason", raw)
	}
	if e.Code != resp.StatusCode {
		t.Errorf("status %d but error code %d (%s)", resp.StatusCode, e.Code, raw)
	}
	return e
}

func TestErrorResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	authJSON := map[string]string{"Authorization": "user", "Content-Type": "application/json"}
	auth := map[string]string{"Authorization": "user"}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	big := `{"user":"alice","password":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	tests := []struct {
		name   string
		req    request
		status int
		reason string
		field  string
	}{
		{"missing auth", request{method: "GET", path: "/v1/me"}, 401, "unauthorized", ""},
		{"missing auth on a send", request{method: "POST", path: "/v1/conversations/g_x/messages", body: `{}`, header: jsonCT}, 401, "unauthorized", ""},
		{"empty bearer", request{method: "GET", path: "/v1/me", header: map[string]string{"Authorization": "Bearer "}}, 401, "unauthorized", ""},
		{"basic auth", request{method: "GET", path: "/v1/me", header: map[string]string{"Authorization": "Basic YWxpY2U6cHc="}}, 401, "unauthorized", ""},
		{"garbage token", request{method: "GET", path: "/v1/me", header: map[string]string{"Authorization": "Bearer not.a.jwt"}}, 401, "unauthorized", ""},
		{"wrong password", request{method: "POST", path: "/v1/login", body: `{"user":"alice","password":"nope"}`, header: jsonCT}, 401, "unauthorized", ""},
		{"unknown user", request{method: "POST", path: "/v1/login", body: `{"user":"zed","password":"nope"}`, header: jsonCT}, 401, "unauthorized", ""},
		{"bad refresh token", request{method: "POST", path: "/v1/refresh", body: `{"refresh_token":"s1.x"}`, header: jsonCT}, 401, "unauthorized", ""},
		{"admin without key", request{method: "GET", path: "/v1/admin/users"}, 401, "unauthorized", ""},
		{"admin with a user token", request{method: "GET", path: "/v1/admin/users", header: auth}, 401, "unauthorized", ""},

		{"no content type", request{method: "POST", path: "/v1/login", body: `{"user":"alice","password":"alice-password"}`}, 415, "unsupported_media_type", ""},
		{"text/plain", request{method: "POST", path: "/v1/login", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type", ""},
		{"form", request{method: "POST", path: "/v1/login", body: `user=alice`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type", ""},
		{"malformed content type", request{method: "POST", path: "/v1/login", body: `{}`, header: map[string]string{"Content-Type": "application/json; ==="}}, 415, "unsupported_media_type", ""},
		{"gzip", request{method: "POST", path: "/v1/login", body: `{}`, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}}, 415, "unsupported_media_type", ""},
		{"authed send as text", request{method: "POST", path: "/v1/users/bob/messages", body: `{}`, header: map[string]string{"Authorization": "user", "Content-Type": "text/plain"}}, 415, "unsupported_media_type", ""},

		{"body over the limit", request{method: "POST", path: "/v1/login", body: big, header: jsonCT}, 413, "too_large", ""},
		{"message over the core limit", request{method: "POST", path: "/v1/users/bob/messages", body: `{"client_msg_id":"c1","body":"` + strings.Repeat("x", 2000) + `"}`, header: authJSON}, 413, "too_large", ""},

		{"truncated JSON", request{method: "POST", path: "/v1/login", body: `{"user":"alice"`, header: jsonCT}, 400, "bad_request", "body"},
		{"empty body", request{method: "POST", path: "/v1/login", header: jsonCT}, 400, "bad_request", "body"},
		{"not JSON", request{method: "POST", path: "/v1/login", body: `user=alice`, header: jsonCT}, 400, "bad_request", "body"},
		{"wrong type names the field", request{method: "POST", path: "/v1/login", body: `{"user":1,"password":"x"}`, header: jsonCT}, 400, "bad_request", "user"},
		{"seq as string", request{method: "POST", path: "/v1/conversations/g_x/read", body: `{"seq":"abc"}`, header: authJSON}, 400, "bad_request", "seq"},
		{"members as string", request{method: "POST", path: "/v1/groups", body: `{"name":"x","members":"bob"}`, header: authJSON}, 400, "bad_request", "members"},
		{"missing client_msg_id", request{method: "POST", path: "/v1/users/bob/messages", body: `{"body":"hi"}`, header: authJSON}, 400, "bad_request", "client_msg_id"},
		{"invalid direct peer", request{method: "POST", path: "/v1/conversations/direct", body: `{"user":"a/b"}`, header: authJSON}, 400, "bad_request", "user"},
		{"bad conversation id", request{method: "GET", path: "/v1/conversations/NOPE", header: auth}, 400, "bad_request", "conv"},
		{"invalid device header", request{method: "GET", path: "/v1/me", header: map[string]string{"Authorization": "user", "X-Parley-Device": "a b"}}, 200, "", ""},

		{"before not a number", request{method: "GET", path: "/v1/conversations/g_x/messages?before=abc", header: auth}, 400, "bad_request", "before"},
		{"after negative", request{method: "GET", path: "/v1/conversations/g_x/messages?after=-1", header: auth}, 400, "bad_request", "after"},
		{"before overflows", request{method: "GET", path: "/v1/conversations/g_x/messages?before=18446744073709551616", header: auth}, 400, "bad_request", "before"},
		{"limit zero", request{method: "GET", path: "/v1/conversations/g_x/messages?limit=0", header: auth}, 400, "bad_request", "limit"},
		{"limit too high", request{method: "GET", path: "/v1/conversations/g_x/messages?limit=301", header: auth}, 400, "bad_request", "limit"},
		{"limit not a number", request{method: "GET", path: "/v1/conversations?limit=ten", header: auth}, 400, "bad_request", "limit"},
		{"limit negative", request{method: "GET", path: "/v1/conversations?limit=-5", header: auth}, 400, "bad_request", "limit"},
		{"admin limit too high", request{method: "GET", path: "/v1/admin/users?limit=1001", header: map[string]string{"Authorization": "Bearer " + adminKey}}, 400, "bad_request", "limit"},
		{"seq in path not a number", request{method: "DELETE", path: "/v1/conversations/g_x/messages/abc", header: auth}, 400, "bad_request", "seq"},
		{"seq in path zero", request{method: "PATCH", path: "/v1/conversations/g_x/messages/0", body: `{}`, header: authJSON}, 400, "bad_request", "seq"},

		{"not a member", request{method: "GET", path: "/v1/conversations/g_nosuchgroup", header: auth}, 404, "not_found", ""},
		{"send to unknown user", request{method: "POST", path: "/v1/users/nobody/messages", body: `{"client_msg_id":"c2","body":"hi"}`, header: authJSON}, 404, "not_found", ""},
		{"unknown path", request{method: "GET", path: "/nope"}, 404, "not_found", ""},
		{"unknown v1 path", request{method: "GET", path: "/v1/nope", header: auth}, 404, "not_found", ""},
		{"unknown admin path", request{method: "GET", path: "/v1/admin/nope"}, 404, "not_found", ""},
		{"root", request{method: "GET", path: "/"}, 404, "not_found", ""},
		{"registration password too short", request{method: "POST", path: "/v1/register", body: `{"user":"carol","password":"short"}`, header: jsonCT}, 400, "bad_request", "password"},
		{"registration of a reserved name", request{method: "POST", path: "/v1/register", body: `{"user":"system","password":"long-enough"}`, header: jsonCT}, 400, "bad_request", "user"},
		{"user exists", request{method: "POST", path: "/v1/admin/users", body: `{"user":"alice","password":"x"}`,
			header: map[string]string{"Authorization": "Bearer " + adminKey, "Content-Type": "application/json"}}, 409, "exists", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := e.do(t, tt.req)
			if resp.StatusCode != tt.status {
				raw, _ := io.ReadAll(resp.Body)
				t.Fatalf("%s %s: status %d, want %d (body %s)", tt.req.method, tt.req.path, resp.StatusCode, tt.status, raw)
			}
			if tt.status < 400 {
				return
			}
			got := checkErrorShape(t, resp)
			if got.Reason != tt.reason || got.Field != tt.field {
				t.Errorf("error {reason %q, field %q}, want {%q, %q} (%+v)", got.Reason, got.Field, tt.reason, tt.field, got)
			}
			if tt.field != "" && got.Message == "" {
				t.Errorf("a field error without a message: %+v", got)
			}
			if tt.status == http.StatusUnauthorized {
				if wa := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(wa, "Bearer") {
					t.Errorf("401 without a Bearer WWW-Authenticate challenge (got %q)", wa)
				}
			} else if wa := resp.Header.Get("WWW-Authenticate"); wa != "" {
				t.Errorf("WWW-Authenticate %q on a %d", wa, resp.StatusCode)
			}
		})
	}
}

// TestErrorMessagesNameNoGoTypes: a body of the wrong JSON shape is refused
// with a message for people, not a Go type from the handler.
func TestErrorMessagesNameNoGoTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	goType := regexp.MustCompile(`struct \{|json:|\bhttpapi\.|\bcore\.|\bprotocol\.`)
	for _, body := range []string{`[]`, `"alice"`, `1`, `true`, `[{"user":"alice"}]`} {
		for _, path := range []string{"/v1/login", "/v1/refresh"} {
			resp := e.do(t, request{method: "POST", path: path, body: body, header: map[string]string{"Content-Type": "application/json"}})
			got := checkErrorShape(t, resp)
			if got.Code != 400 {
				t.Errorf("POST %s %s: code %d, want 400", path, body, got.Code)
			}
			if goType.MatchString(got.Message) || strings.HasPrefix(got.Message, " ") {
				t.Errorf("POST %s %s: message %q exposes a Go type", path, body, got.Message)
			}
		}
	}
}

func TestRegistrationClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *config.Config) { c.Auth.AllowRegistration = false })
	resp := e.do(t, request{method: "POST", path: "/v1/register", body: `{"user":"carol","password":"carol-password"}`,
		header: map[string]string{"Content-Type": "application/json"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("register with registration closed: %d, want 403", resp.StatusCode)
	}
	if got := checkErrorShape(t, resp); got.Reason != "registration_closed" {
		t.Errorf("reason %q, want registration_closed", got.Reason)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if resp := e.do(t, request{method: "GET", path: "/readyz"}); resp.StatusCode != 200 {
		t.Fatalf("readyz while ready: %d", resp.StatusCode)
	}
	e.ready.Store(false)
	resp := e.do(t, request{method: "GET", path: "/readyz"})
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("readyz while not ready: %d, want 503", resp.StatusCode)
	}
	if got := checkErrorShape(t, resp); got.Reason != "not_ready" {
		t.Errorf("reason %q, want not_ready", got.Reason)
	}
	if resp := e.do(t, request{method: "GET", path: "/healthz"}); resp.StatusCode != 200 {
		t.Errorf("healthz while not ready: %d, want 200 (alive)", resp.StatusCode)
	}
}

// TestWrongMethod: a known path with a method it does not serve still
// answers in the one error shape.
func TestWrongMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, r := range []request{
		{method: "POST", path: "/v1/me"},
		{method: "DELETE", path: "/v1/login"},
		{method: "PUT", path: "/v1/conversations/g_x/messages"},
		{method: "GET", path: "/v1/register"},
	} {
		resp := e.do(t, r)
		if resp.StatusCode != 404 && resp.StatusCode != 405 {
			t.Errorf("%s %s: status %d, want 404 or 405", r.method, r.path, resp.StatusCode)
		}
		checkErrorShape(t, resp)
	}
}

// TestSuccessIsNotAnError: the happy path for contrast (and to prove that
// the token used above is valid): a send answers 201 with an ack, a repeat
// 200 with the same ack.
func TestSuccessIsNotAnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	send := request{method: "POST", path: "/v1/users/bob/messages", body: `{"client_msg_id":"c-1","body":"hi"}`,
		header: map[string]string{"Authorization": "user", "Content-Type": "application/json; charset=utf-8"}}
	var acks []map[string]any
	for i, want := range []int{201, 200} {
		resp := e.do(t, send)
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("send %d: status %d, want %d (%s)", i, resp.StatusCode, want, raw)
		}
		var ack map[string]any
		if err := json.Unmarshal(raw, &ack); err != nil || ack["seq"] != float64(1) || ack["error"] != nil {
			t.Fatalf("send %d: body %s is not an ack of seq 1", i, raw)
		}
		acks = append(acks, ack)
	}
	if acks[0]["id"] != acks[1]["id"] {
		t.Errorf("the repeat's ack names message %v, the original %v", acks[1]["id"], acks[0]["id"])
	}
}

// TestRoutes: Routes lists each served pattern exactly once, and each
// listed pattern is really routed (not answered by the catch-all 404).
func TestRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	routes := e.srv.Routes()
	if len(routes) == 0 {
		t.Fatal("Routes() is empty")
	}
	seen := map[string]bool{}
	wildcard := regexp.MustCompile(`\{[^}]+\}`)
	for _, p := range routes {
		if seen[p] {
			t.Errorf("pattern %q listed twice", p)
		}
		seen[p] = true
		method, path, ok := strings.Cut(p, " ")
		if !ok || method == "" || !strings.HasPrefix(path, "/") {
			t.Errorf("pattern %q is not \"METHOD /path\"", p)
			continue
		}
		// Fill wildcards with values that make no handler succeed.
		target := wildcard.ReplaceAllStringFunc(path, func(w string) string {
			if w == "{seq}" {
				return "1"
			}
			return "g_zz"
		})
		resp := e.do(t, request{method: method, path: target, body: `{}`, header: map[string]string{"Content-Type": "application/json"}})
		raw, _ := io.ReadAll(resp.Body)
		if bytes.Contains(raw, []byte("no such endpoint")) {
			t.Errorf("%s %s (pattern %q) fell through to the catch-all 404", method, target, p)
		}
	}
	for _, p := range []string{"GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/ws", "GET /mqtt", "POST /v1/login", "POST /v1/conversations/{conv}/messages"} {
		if !seen[p] {
			t.Errorf("Routes() lacks %q", p)
		}
	}
	// A copy: callers cannot change the server's list.
	routes[0] = "MUTATED"
	if e.srv.Routes()[0] == "MUTATED" {
		t.Error("Routes returns the server's own slice")
	}
}

// TestRoutesWithoutOptionalHandlers: /metrics, /v1/ws and /mqtt are listed
// only when served, and answer 404 when not.
func TestRoutesWithoutOptionalHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := httpapi.New(e.core, httpapi.Options{})
	optional := []string{"GET /metrics", "GET /v1/ws", "GET /mqtt"}
	for _, p := range srv.Routes() {
		if slices.Contains(optional, p) {
			t.Errorf("Routes() lists %q, which is not served", p)
		}
	}
	for _, p := range optional {
		method, path, _ := strings.Cut(p, " ")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		if rec.Code != 404 {
			t.Errorf("%s without a handler: %d, want 404", p, rec.Code)
		}
	}
}
