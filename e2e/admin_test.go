package e2e

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/config"
)

// adminGet sends GET url with the admin key key and returns the status,
// the Retry-After header and the body.
func adminGet(t *testing.T, url, key string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t), "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Retry-After"), string(b)
}

// Failed admin authentications are limited per client address: beyond
// admin.failures_per_ip_per_minute every admin request from the address is
// refused with 429 and Retry-After, the right key included, and counted in
// parley_rate_limited_total{limit="admin"}. Successes do not count.
func TestAdminAuthenticationFailuresAreLimited(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Admin.FailuresPerIPPerMinute = 3 })
	u := s.URL + "/v1/admin/users"
	for i := 0; i < 5; i++ { // successes take nothing from the budget
		if code, _, b := adminGet(t, u, adminKey); code != http.StatusOK {
			t.Fatalf("admin list with the key: %d %s", code, b)
		}
	}
	for i := 0; i < 3; i++ {
		if code, _, _ := adminGet(t, u, "wrong-key-"+strconv.Itoa(i)); code != http.StatusUnauthorized {
			t.Fatalf("wrong key %d: %d, want 401", i, code)
		}
	}
	for _, key := range []string{"wrong-key-again", adminKey} {
		code, retry, b := adminGet(t, u, key)
		if code != http.StatusTooManyRequests || !strings.Contains(b, "rate_limited") {
			t.Fatalf("after 3 failures, key %q: %d %s, want 429", key, code, b)
		}
		if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 60 {
			t.Errorf("Retry-After %q, want 1 to 60 seconds", retry)
		}
	}
	_, _, metrics := adminGet(t, s.URL+"/metrics", "")
	if !strings.Contains(metrics, `parley_rate_limited_total{limit="admin"} 2`) {
		t.Errorf("metrics do not count the 2 refusals under limit=\"admin\"")
	}
}

// With admin.addr, the admin API and /metrics are served on that listener
// only; the public one answers 404 for them.
func TestAdminOnItsOwnListener(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Admin.Addr = "127.0.0.1:0" })
	admin := s.app.AdminURL()
	if admin == "" || admin == s.URL {
		t.Fatalf("AdminURL = %q beside %s", admin, s.URL)
	}
	for _, path := range []string{"/v1/admin/users", "/metrics"} {
		if code, _, _ := adminGet(t, s.URL+path, adminKey); code != http.StatusNotFound {
			t.Errorf("public %s: %d, want 404", path, code)
		}
		if code, _, b := adminGet(t, admin+path, adminKey); code != http.StatusOK {
			t.Errorf("admin listener %s: %d %s", path, code, b)
		}
	}
	if code, _, _ := adminGet(t, admin+"/v1/admin/users", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("admin listener with a wrong key: %d, want 401", code)
	}
	for _, path := range []string{"/v1/me", "/healthz"} {
		if code, _, _ := adminGet(t, admin+path, ""); code != http.StatusNotFound {
			t.Errorf("admin listener %s: %d, want 404", path, code)
		}
	}
	if code, _, _ := adminGet(t, s.URL+"/healthz", ""); code != http.StatusOK {
		t.Errorf("public /healthz: %d", code)
	}
}
