package e2e

// Password checks cost the server far more than they cost the client (an
// argon2id hash: 19 MiB and about 30 ms of a core), so they are bounded:
// a reconnect with a password that was already checked is not hashed
// again, no more than auth.password_concurrency hashes run at once, and a
// sign-in that cannot get its turn within auth.password_wait is told
// "busy" at once (MQTT 5 CONNACK 0x89, 3.1.1 return code 3, HTTP 503 with
// Retry-After) rather than left to time out. Successful password
// sign-ins have a budget per account, as failed ones do, and a user's
// devices are capped (limits.devices_per_user).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
)

// CONNACK return codes of MQTT 3.1.1 (§3.2.2.3) and the 5.0 Reason String
// property.
const (
	v3ServerUnavailable = 0x03
	v3BadCredentials    = 0x04
	v3NotAuthorized     = 0x05
	mhPropReasonString  = 0x1F
)

// slowHashes gives a CONNECT time for a password hash under the race
// detector on a loaded machine (up to seconds), which the tests' 2 s
// auth deadline does not: these tests are about hashing, not deadlines.
func slowHashes(c *config.Config) { c.Timeouts.AuthDeadline = 15 * time.Second }

// passwordChecks reads parley_password_checks_total{outcome} from /metrics.
func passwordChecks(t *testing.T, s *server, outcome string) int {
	t.Helper()
	return metricValue(t, s, `parley_password_checks_total{outcome="`+outcome+`"}`)
}

// mqttCode connects with a password and returns the CONNACK's code (and
// the 5.0 reason string), closing the connection afterwards.
func mqttCode(t *testing.T, s *server, v5 bool, user, password, clientID string) (byte, string) {
	t.Helper()
	m, code, props := mhOpen(t, s, mhConnect{v5: v5, clientID: clientID, user: user, password: password, clean: true, keepalive: 30})
	m.c.Close()
	return code, string(props.vals[mhPropReasonString])
}

// loginStatus posts a password login and returns the status and error.
func loginStatus(t *testing.T, s *server, user, password, device string) (int, *protocol.Error) {
	t.Helper()
	status, body := httpDo(t, "POST", s.URL+"/v1/login", "", map[string]string{"user": user, "password": password, "device": device})
	var eb struct {
		Error *protocol.Error `json:"error"`
	}
	_ = json.Unmarshal(body, &eb)
	return status, eb.Error
}

func TestPasswordReconnectIsNotHashedAgain(t *testing.T) {
	t.Parallel()
	s := startServer(t, slowHashes)
	s.user("alice")
	hashed := func() int { return passwordChecks(t, s, "hashed") }
	cached := func() int { return passwordChecks(t, s, "cached") }
	want := func(step string, h, c int) {
		t.Helper()
		if gh, gc := hashed(), cached(); gh != h || gc != c {
			t.Fatalf("%s: %d hashed and %d cached password checks, want %d and %d", step, gh, gc, h, c)
		}
	}
	want("start", 0, 0)

	// A reconnect storm of one device, on both MQTT versions, and an HTTP
	// login: one hash, the rest answered from the cache.
	for i := range 6 {
		if code, _ := mqttCode(t, s, i%2 == 1, "alice", "password-alice", "phone"); code != 0 {
			t.Fatalf("connect %d: code 0x%02x", i, code)
		}
	}
	if status, e := loginStatus(t, s, "alice", "password-alice", "laptop"); status != 200 {
		t.Fatalf("login: %d %v", status, e)
	}
	want("six connects and a login", 1, 6)

	// A wrong password is always hashed and leaves the remembered one.
	if code, _ := mqttCode(t, s, false, "alice", "guess", "phone"); code != v3BadCredentials {
		t.Fatalf("wrong password: code 0x%02x, want 0x04", code)
	}
	want("a wrong guess", 2, 6)
	if code, _ := mqttCode(t, s, false, "alice", "password-alice", "phone"); code != 0 {
		t.Fatalf("after the guess: code 0x%02x", code)
	}
	want("after the guess", 2, 7)

	// The password changes (here under the server, as `parley user
	// passwd` or a restore would): the old one no longer gets in, not even
	// from the cache.
	hash, err := auth.HashPassword("a-new-password")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.app.Store().SetPassword(ctxT(t), "alice", hash); err != nil {
		t.Fatal(err)
	}
	if code, _ := mqttCode(t, s, false, "alice", "password-alice", "phone"); code != v3BadCredentials {
		t.Fatalf("old password after the change: code 0x%02x, want 0x04", code)
	}
	if status, _ := loginStatus(t, s, "alice", "password-alice", "laptop"); status != 401 {
		t.Fatalf("old password login after the change: %d, want 401", status)
	}
	want("the old password after the change", 4, 7)
	for i := range 2 {
		if code, _ := mqttCode(t, s, true, "alice", "a-new-password", "phone"); code != 0 {
			t.Fatalf("new password, connect %d: code 0x%02x", i, code)
		}
	}
	want("the new password, twice", 5, 8)

	// A disabled user is refused, cached password or not, and is hashed
	// again after being enabled.
	for _, op := range []string{"disable", "enable"} {
		if status, body := httpDo(t, "POST", s.URL+"/v1/admin/users/alice/"+op, "", nil, "Authorization", "Bearer "+adminKey); status/100 != 2 {
			t.Fatalf("%s: %d %s", op, status, body)
		}
		wantCode := byte(v3BadCredentials)
		if op == "enable" {
			wantCode = 0
		}
		if code, _ := mqttCode(t, s, false, "alice", "a-new-password", "phone"); code != wantCode {
			t.Fatalf("after %s: code 0x%02x, want 0x%02x", op, code, wantCode)
		}
	}
	want("disabled and enabled", 7, 8)
}

// busyOutcome is what one sign-in of a storm got.
type busyOutcome struct {
	kind string // "mqtt5", "mqtt3", "http"
	ok   bool
	busy bool
	err  string // anything else
}

// signIn signs user in by kind once, without failing the test (it runs
// on its own goroutine), and classifies the answer.
func signIn(s *server, kind, user string) busyOutcome {
	out := busyOutcome{kind: kind}
	password := "password-" + user
	if kind == "http" {
		b, _ := json.Marshal(map[string]string{"user": user, "password": password, "device": "d"})
		c := &http.Client{Timeout: 20 * time.Second}
		resp, err := c.Post(s.URL+"/v1/login", "application/json", bytes.NewReader(b))
		if err != nil {
			out.err = err.Error()
			return out
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var eb struct {
			Error *protocol.Error `json:"error"`
		}
		_ = json.Unmarshal(body, &eb)
		switch {
		case resp.StatusCode == 200:
			out.ok = true
		case resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "1" && eb.Error != nil &&
			eb.Error.Reason == "busy" && eb.Error.RetryAfterMS == 1000:
			out.busy = true
		default:
			out.err = fmt.Sprintf("HTTP %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		return out
	}
	v5 := kind == "mqtt5"
	c, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		out.err = err.Error()
		return out
	}
	defer c.Close()
	m := &mhConn{c: c, br: bufio.NewReader(c), v5: v5}
	if err := m.send(mhConnect{v5: v5, clientID: "d", user: user, password: password, clean: true, keepalive: 30}.encode()); err != nil {
		out.err = err.Error()
		return out
	}
	// No timeout: an answer comes well within the client's patience.
	p, err := m.read(20 * time.Second)
	if err != nil || p.typ != mhCONNACK || len(p.body) < 2 {
		out.err = fmt.Sprintf("no CONNACK: %v %v", p, err)
		return out
	}
	code := p.body[1]
	reason := ""
	if v5 {
		props, _, err := mhParseProps(p.body[2:])
		if err != nil {
			out.err = err.Error()
			return out
		}
		reason = string(props.vals[mhPropReasonString])
	}
	switch {
	case code == 0:
		out.ok = true
	case v5 && code == 0x89 && strings.Contains(reason, "busy"), !v5 && code == v3ServerUnavailable:
		out.busy = true
	default:
		out.err = fmt.Sprintf("CONNACK 0x%02x %q", code, reason)
	}
	return out
}

func TestPasswordStormIsToldBusy(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		// One hash at a time and (almost) no waiting for a turn: a storm
		// of first sign-ins must be answered busy, never left waiting.
		c.Auth.PasswordConcurrency = 1
		c.Auth.PasswordWait = time.Nanosecond
		c.RateLimits.LoginPerIPPerMinute = 100_000
		slowHashes(c)
	})
	kinds := []string{"mqtt5", "mqtt3", "http"}
	sawBusy := map[string]bool{}
	successes := 0
	deadline := time.Now().Add(60 * time.Second)
	for wave := 0; len(sawBusy) < len(kinds); wave++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d waves of simultaneous first sign-ins, busy seen only on %v (successes: %d)", wave, sawBusy, successes)
		}
		// Fresh users: a password checked before would come from the cache.
		var users []string
		for i := range 9 {
			users = append(users, s.user(fmt.Sprintf("w%du%d", wave, i)))
		}
		outcomes := make([]busyOutcome, len(users))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, u := range users {
			wg.Go(func() {
				<-start
				outcomes[i] = signIn(s, kinds[i%len(kinds)], u)
			})
		}
		close(start)
		wg.Wait()
		for i, o := range outcomes {
			switch {
			case o.err != "":
				t.Fatalf("wave %d, %s sign-in of %s: %s", wave, o.kind, users[i], o.err)
			case o.busy:
				sawBusy[o.kind] = true
				// Busy is temporary: the same sign-in on its own succeeds.
				if again := signIn(s, o.kind, users[i]); !again.ok {
					t.Fatalf("%s sign-in of %s after busy: %+v", o.kind, users[i], again)
				}
			default:
				successes++
			}
		}
	}
	if successes == 0 {
		t.Fatal("no sign-in of a storm succeeded: the slot should serve one at a time")
	}
	if passwordChecks(t, s, "busy") == 0 {
		t.Fatal("parley_password_checks_total{outcome=\"busy\"} is 0")
	}
}

func TestDevicesPerUserAreCapped(t *testing.T) {
	t.Parallel()
	const secret = "the-app-backend-shared-secret-0123456789"
	s := startServer(t, func(c *config.Config) {
		c.Limits.DevicesPerUser = 3
		c.Auth.External.HMACSecret = secret
		slowHashes(c)
	})
	s.user("alice")
	s.user("bob")
	if status, e := loginStatus(t, s, "alice", "password-alice", "d1"); status != 200 {
		t.Fatalf("login d1: %d %v", status, e)
	}
	if status, e := loginStatus(t, s, "alice", "password-alice", "d2"); status != 200 {
		t.Fatalf("login d2: %d %v", status, e)
	}
	if code, _ := mqttCode(t, s, false, "alice", "password-alice", "g@@@m1"); code != 0 {
		t.Fatalf("mqtt m1: 0x%02x", code)
	}

	// At the cap, every gateway refuses a new device, and says why.
	if status, e := loginStatus(t, s, "alice", "password-alice", "d4"); status != 403 || e == nil || e.Reason != "too_many_devices" {
		t.Fatalf("login of a fourth device: %d %+v, want 403 too_many_devices", status, e)
	}
	if code, reason := mqttCode(t, s, true, "alice", "password-alice", "m2"); code != 0x97 || !strings.Contains(reason, "devices") {
		t.Fatalf("MQTT 5 connect of a fourth device: 0x%02x %q, want 0x97 naming devices", code, reason)
	}
	if code, _ := mqttCode(t, s, false, "alice", "password-alice", "m3"); code != v3NotAuthorized {
		t.Fatalf("MQTT 3.1.1 connect of a fourth device: 0x%02x, want 0x05", code)
	}
	// An application's token names whatever device the client says.
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := wsrHandshake(t, s, nil)
	ws.send(protocol.Request{ID: "hello", Op: protocol.OpHello, Version: protocol.Version, Token: tok, Device: "w1"})
	frames, _ := ws.closed(protocol.CloseTooManyDevices)
	var told bool
	for _, f := range frames {
		var pf protocol.Frame
		if json.Unmarshal(f.Payload, &pf) == nil && pf.ID == "hello" && pf.Error != nil &&
			pf.Error.Code == 403 && pf.Error.Reason == "too_many_devices" {
			told = true
		}
	}
	if !told {
		t.Fatalf("WebSocket hello of a fourth device closed with 3506 without a 403 too_many_devices error frame: %d frames", len(frames))
	}
	if n, _ := s.app.Core().Devices(ctxT(t), "alice"); len(n) != 3 {
		t.Fatalf("alice has %d devices after the refusals, want 3", len(n))
	}

	// Existing devices keep working; other users are not affected.
	if status, e := loginStatus(t, s, "alice", "password-alice", "d1"); status != 200 {
		t.Fatalf("login of the existing d1: %d %v", status, e)
	}
	if code, _ := mqttCode(t, s, true, "alice", "password-alice", "m1"); code != 0 {
		t.Fatalf("reconnect of the existing m1: 0x%02x", code)
	}
	if status, e := loginStatus(t, s, "bob", "password-bob", "d4"); status != 200 {
		t.Fatalf("bob's login: %d %v", status, e)
	}

	// Revoking a device frees its slot.
	api := s.login("alice", "d1")
	if status, body := httpDo(t, "DELETE", s.URL+"/v1/devices/d2", api.Token, nil); status != 204 {
		t.Fatalf("revoke d2: %d %s", status, body)
	}
	ws, _ = wsrHandshake(t, s, nil)
	if f := ws.call(protocol.Request{ID: "hello", Op: protocol.OpHello, Version: protocol.Version, Token: tok, Device: "w1"}); f.Type != protocol.TypeOK {
		t.Fatalf("hello of w1 after a revocation: %+v", f)
	}
	if status, _ := loginStatus(t, s, "alice", "password-alice", "d4"); status != 403 {
		t.Fatalf("login of d4 with w1 in the freed slot: %d, want 403", status)
	}
}

func TestSuccessfulPasswordSignInsAreLimitedPerAccount(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) {
		c.RateLimits.LoginSuccessPerAccountPerMinute = 3
		slowHashes(c)
	})
	s.user("alice")
	s.user("bob")
	if status, e := loginStatus(t, s, "alice", "password-alice", "d1"); status != 200 {
		t.Fatalf("login 1: %d %v", status, e)
	}
	if code, _ := mqttCode(t, s, false, "alice", "password-alice", "phone"); code != 0 {
		t.Fatalf("connect 2: 0x%02x", code)
	}
	if code, _ := mqttCode(t, s, true, "alice", "password-alice", "phone"); code != 0 {
		t.Fatalf("connect 3: 0x%02x", code)
	}
	hashed := passwordChecks(t, s, "hashed") + passwordChecks(t, s, "cached")

	// The fourth within the minute is refused on every gateway, before
	// its password is checked, right or wrong.
	status, body := httpDo(t, "POST", s.URL+"/v1/login", "", map[string]string{"user": "alice", "password": "password-alice"})
	if status != 429 {
		t.Fatalf("login 4: %d %s, want 429", status, body)
	}
	if code, _ := mqttCode(t, s, false, "alice", "password-alice", "phone"); code != v3ServerUnavailable {
		t.Fatalf("MQTT 3.1.1 connect 4: 0x%02x, want 0x03", code)
	}
	if code, _ := mqttCode(t, s, true, "alice", "wrong", "phone"); code != 0x97 {
		t.Fatalf("MQTT 5 connect 4 with a wrong password: 0x%02x, want 0x97", code)
	}
	if n := passwordChecks(t, s, "hashed") + passwordChecks(t, s, "cached"); n != hashed {
		t.Fatalf("%d password checks after the refusals, want %d: a refusal checks nothing", n, hashed)
	}
	if n := rateLimited(t, s, "login_success"); n != 3 {
		t.Fatalf("parley_rate_limited_total{limit=\"login_success\"} = %d, want 3", n)
	}
	// Another account has its own budget.
	if status, e := loginStatus(t, s, "bob", "password-bob", "d1"); status != 200 {
		t.Fatalf("bob: %d %v", status, e)
	}
}
