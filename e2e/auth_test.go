package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// httpDo sends a request and returns the status and body.
func httpDo(t *testing.T, method, url, token string, body any, header ...string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestRegisterLoginRefreshLogout(t *testing.T) {
	t.Parallel()
	s := startServer(t, slowPings) // dialToken holds a raw connection
	ctx := ctxT(t)
	api := &parley.API{BaseURL: s.URL}
	if _, err := api.Register(ctx, "zoe", "long enough pw", "Zoe"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Register(ctx, "zoe", "long enough pw", ""); !isCode(err, protocol.CodeConflict) {
		t.Fatalf("second registration: %v, want 409", err)
	}
	if _, err := api.Register(ctx, "g_group", "long enough pw", ""); !isCode(err, protocol.CodeBadRequest) {
		t.Fatalf("reserved prefix: %v, want 400", err)
	}
	if _, err := api.Login(ctx, "zoe", "wrong", "phone"); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("wrong password: %v, want 401", err)
	}
	if _, err := api.Login(ctx, "nobody", "wrong", "phone"); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("unknown user: %v, want 401", err)
	}
	tok, err := api.Login(ctx, "zoe", "long enough pw", "phone")
	if err != nil {
		t.Fatal(err)
	}
	next, err := api.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Refresh(ctx, tok.RefreshToken); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("reusing a rotated refresh token: %v, want 401", err)
	}
	// A connection with the new token is closed when the session logs out,
	// and the old access token stops working.
	c := s.dialToken(next.AccessToken)
	if status, _ := httpDo(t, "POST", s.URL+"/v1/logout", next.AccessToken, nil); status != http.StatusNoContent {
		t.Fatalf("logout: %d", status)
	}
	waitClosed(t, c, protocol.CloseRevoked)
	if status, _ := httpDo(t, "GET", s.URL+"/v1/me", next.AccessToken, nil); status != http.StatusUnauthorized {
		t.Fatalf("token after logout: %d, want 401", status)
	}
	if _, err := api.Refresh(ctx, next.RefreshToken); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("refresh after logout: %v, want 401", err)
	}
}

func TestRegistrationCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Auth.AllowRegistration = false })
	_, err := (&parley.API{BaseURL: s.URL}).Register(ctxT(t), "zoe", "long enough pw", "")
	if !isCode(err, protocol.CodeForbidden) {
		t.Fatalf("register with registration off: %v, want 403", err)
	}
}

// dialToken opens a raw WebSocket authenticated with token and returns it
// after the hello reply.
func (s *server) dialToken(token string) *websocket.Conn {
	t := s.t
	t.Helper()
	conn := rawDial(t, s, token)
	_, data, err := conn.Read(ctxT(t))
	if err != nil {
		t.Fatalf("hello reply: %v", err)
	}
	var f protocol.Frame
	if json.Unmarshal(data, &f) != nil || f.Type != protocol.TypeOK {
		t.Fatalf("hello reply: %s", data)
	}
	return conn
}

// waitClosed reads until the connection closes and checks the close code.
func waitClosed(t *testing.T, conn *websocket.Conn, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	for err == nil {
		_, _, err = conn.Read(ctx)
	}
	if got := websocket.CloseStatus(err); int(got) != code {
		t.Fatalf("closed with %v (%d), want %d", err, got, code)
	}
}

func TestDevicesListAndRevoke(t *testing.T) {
	t.Parallel()
	// Nothing reads the laptop's raw connection before the revocation, so
	// nothing answers pings: the test config's one-second round would
	// close it as vanished on a loaded machine.
	s := startServer(t, func(c *config.Config) {
		c.Timeouts.PingInterval, c.Timeouts.PongTimeout = time.Minute, time.Minute
	})
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	phone := s.login("alice", "phone")
	laptop := s.login("alice", "laptop")
	conn := s.dialToken(laptop.Token)
	bob := s.dial("bob", "phone")
	if _, err := bob.Send(ctx, parley.SendOptions{To: "alice", Body: "1"}); err != nil {
		t.Fatal(err)
	}
	ds, err := phone.Devices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, d := range ds {
		names[d.ID] = d.Online
	}
	if _, ok := names["phone"]; !ok || !names["laptop"] {
		t.Fatalf("devices %+v: want phone, and laptop online", ds)
	}
	if err := phone.RevokeDevice(ctx, "laptop"); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, conn, protocol.CloseRevoked)
	if status, _ := httpDo(t, "GET", s.URL+"/v1/me", laptop.Token, nil); status != http.StatusUnauthorized {
		t.Fatalf("revoked device's token: %d, want 401", status)
	}
	if err := phone.RevokeDevice(ctx, "laptop"); !isCode(err, protocol.CodeNotFound) {
		t.Fatalf("revoking again: %v, want 404", err)
	}
}

func TestAdminAPI(t *testing.T) {
	t.Parallel()
	s := startServer(t, slowPings) // dialToken holds a raw connection
	u := s.URL + "/v1/admin/users"
	if status, _ := httpDo(t, "GET", u, "wrong-key", nil); status != http.StatusUnauthorized {
		t.Fatalf("admin with a wrong key: %d", status)
	}
	if status, b := httpDo(t, "POST", u, adminKey, map[string]string{"user": "eve", "password": "long enough pw"}); status != http.StatusCreated {
		t.Fatalf("admin create: %d %s", status, b)
	}
	status, b := httpDo(t, "GET", u, adminKey, nil)
	if status != 200 || !strings.Contains(string(b), `"id":"eve"`) {
		t.Fatalf("admin list: %d %s", status, b)
	}
	eve, err := (&parley.API{BaseURL: s.URL}).Login(ctxT(t), "eve", "long enough pw", "phone")
	if err != nil {
		t.Fatal(err)
	}
	conn := s.dialToken(eve.AccessToken)
	if status, b := httpDo(t, "POST", u+"/eve/kick", adminKey, nil); status != 200 || !strings.Contains(string(b), `"closed":1`) {
		t.Fatalf("kick: %d %s", status, b)
	}
	waitClosed(t, conn, protocol.CloseKicked)
	conn2 := s.dialToken(eve.AccessToken) // kicked users may come back
	if status, _ := httpDo(t, "POST", u+"/eve/disable", adminKey, nil); status != http.StatusNoContent {
		t.Fatalf("disable: %d", status)
	}
	waitClosed(t, conn2, protocol.CloseRevoked)
	if status, _ := httpDo(t, "POST", s.URL+"/v1/login", "", map[string]string{"user": "eve", "password": "long enough pw"}); status != http.StatusUnauthorized {
		t.Fatalf("disabled user's login: %d, want 401", status)
	}
	// Without an admin key configured the admin API is off.
	off := startServer(t, func(c *config.Config) { c.Auth.AdminKey = "" })
	if status, _ := httpDo(t, "GET", off.URL+"/v1/admin/users", "", nil); status != http.StatusUnauthorized {
		t.Fatalf("admin API without a key: %d", status)
	}
}

// Apps with their own users: a JWT signed by the app's backend (HMAC here)
// with the user in "sub" is accepted, and the user exists from then on.
func TestExternalJWT(t *testing.T) {
	t.Parallel()
	const secret = "the-app-backend-shared-secret-0123456789"
	s := startServer(t, func(c *config.Config) {
		c.Auth.External.HMACSecret = secret
		c.Auth.External.Audience = "chat"
	})
	s.user("bob")
	sign := func(claims jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := time.Now().Add(time.Hour).Unix()
	good := sign(jwt.MapClaims{"sub": "app-user-42", "aud": "chat", "exp": exp})
	c, err := parley.Dial(ctxT(t), parley.Options{URL: s.URL, Token: good, Device: "web"})
	if err != nil {
		t.Fatalf("external token: %v", err)
	}
	defer c.Close()
	if c.User() != "app-user-42" || c.Device() != "web" {
		t.Fatalf("identity %s/%s", c.User(), c.Device())
	}
	if _, err := c.Send(ctxT(t), parley.SendOptions{To: "bob", Body: "from the app"}); err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"wrong audience": sign(jwt.MapClaims{"sub": "x", "aud": "other", "exp": exp}),
		"expired":        sign(jwt.MapClaims{"sub": "x", "aud": "chat", "exp": time.Now().Add(-time.Minute).Unix()}),
		"bad sub":        sign(jwt.MapClaims{"sub": "a/b", "aud": "chat", "exp": exp}),
		"alg none":       noneToken(t),
	} {
		if _, err := parley.Dial(ctxT(t), parley.Options{URL: s.URL, Token: tok}); !isCode(err, protocol.CodeUnauthorized) {
			t.Errorf("%s: %v, want 401", name, err)
		}
	}
}

func noneToken(t *testing.T) string {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "x", "aud": "chat", "iss": "parley"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The WebSocket's first frame must authenticate within the deadline; browser
// origins must be on the allow-list; tokens are not taken from the URL.
func TestWebSocketHandshakeRules(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.Timeouts.AuthDeadline = 300 * time.Millisecond
		c.HTTP.AllowedOrigins = []string{"https://app.example"}
	})
	s.user("alice")
	ws := strings.Replace(s.URL, "http://", "ws://", 1) + "/v1/ws"
	ctx := ctxT(t)

	silent, _, err := websocket.Dial(ctx, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, silent, protocol.CloseAuthTimeout)

	h := http.Header{"Origin": {"https://evil.example"}}
	if _, resp, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: h}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("evil origin: %v %v", err, resp)
	}
	h = http.Header{"Origin": {"https://app.example"}}
	ok, _, err := websocket.Dial(ctx, ws, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	ok.CloseNow()

	tok := s.login("alice", "phone").Token
	if status, _ := httpDo(t, "GET", s.URL+"/v1/me?access_token="+tok, "", nil); status != http.StatusUnauthorized {
		t.Fatalf("token in the query string: %d, want 401", status)
	}

	bad := rawDial(t, s, "not-a-token")
	waitClosed(t, bad, protocol.CloseAuthFailed)
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	a := s.dial("alice", "p")
	if _, err := a.Send(ctxT(t), parley.SendOptions{To: "bob", Body: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, _ := httpDo(t, "GET", s.URL+p, "", nil); status != 200 {
			t.Fatalf("%s: %d", p, status)
		}
	}
	if _, err := s.login("alice", "web").Send(ctxT(t), "", parley.SendOptions{To: "bob", Body: "y"}); err != nil {
		t.Fatal(err)
	}
	status, b := httpDo(t, "GET", s.URL+"/metrics", "", nil)
	for _, m := range []string{
		`parley_connections{protocol="websocket"} 1`, `parley_connections{protocol="mqtt"} 0`,
		`parley_sends_total{protocol="websocket"} 1`, `parley_sends_total{protocol="http"} 1`,
		`parley_deliveries_total{protocol="websocket"}`,
		`parley_http_requests_total{code="201",route="POST /v1/users/{user}/messages"} 1`,
		`parley_http_requests_total{code="200",route="GET /healthz"} 1`,
		`parley_http_request_seconds_count{route="POST /v1/login"}`,
		`parley_build_info{commit=`,
		"parley_commit_batch_size_count", "parley_commit_seconds_bucket", "parley_device_acks_total"} {
		if status != 200 || !strings.Contains(string(b), m) {
			t.Fatalf("metrics lack %q:\n%s", m, b)
		}
	}
}
