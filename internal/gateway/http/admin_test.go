package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	httpapi "github.com/parley-im/parley/internal/gateway/http"
)

// TestAdminFailuresLimited: after AdminFailuresPerMinute failed admin
// authentications from one address, its admin requests are refused with
// 429 and Retry-After, the right key included; successes do not count,
// and another address is not affected.
func TestAdminFailuresLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := httpapi.New(e.core, httpapi.Options{AdminKey: adminKey, AdminFailuresPerMinute: 2})
	get := func(remote, key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/v1/admin/users", nil)
		r.RemoteAddr = remote
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		return w
	}
	const a, b = "192.0.2.1:1000", "192.0.2.2:1000"
	for i := 0; i < 5; i++ {
		if w := get(a, adminKey); w.Code != http.StatusOK {
			t.Fatalf("with the key: %d %s", w.Code, w.Body)
		}
	}
	for i := 0; i < 2; i++ {
		if w := get(a, "wrong"); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d", i, w.Code)
		}
	}
	for _, key := range []string{"wrong", "", adminKey} {
		w := get(a, key)
		if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "rate_limited") {
			t.Fatalf("after the limit, key %q: %d %s, want 429", key, w.Code, w.Body)
		}
		if n, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || n < 1 || n > 30 {
			t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
		}
	}
	if w := get(b, adminKey); w.Code != http.StatusOK {
		t.Errorf("another address: %d, want 200", w.Code)
	}
}

// TestSeparateAdmin: with SeparateAdmin the public handler serves neither
// the admin API nor /metrics; AdminHandler serves both and nothing else.
func TestSeparateAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("stub metrics")) })
	srv := httpapi.New(e.core, httpapi.Options{AdminKey: adminKey, Metrics: metrics, SeparateAdmin: true})
	do := func(h http.Handler, path string) int {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer "+adminKey)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for path, want := range map[string][2]int{
		"/v1/admin/users":         {404, 200},
		"/metrics":                {404, 200},
		"/healthz":                {200, 404},
		"/v1/admin/users?bogus=1": {404, 400},
	} {
		if got := do(srv, path); got != want[0] {
			t.Errorf("public %s: %d, want %d", path, got, want[0])
		}
		if got := do(srv.AdminHandler(), path); got != want[1] {
			t.Errorf("admin %s: %d, want %d", path, got, want[1])
		}
	}
	for _, r := range srv.Routes() {
		if strings.Contains(r, "/admin/") || strings.HasSuffix(r, "/metrics") {
			t.Errorf("the public routes list %s", r)
		}
	}
}
