package e2e

// Rate and connection limits (rate_limits.*) and trusted proxies
// (http.trusted_proxies): each limit, set small, refuses what is over it
// with 429 (and retry_after_ms or Retry-After) or the documented close code,
// leaves other users and addresses alone, and is counted in
// parley_rate_limited_total. Client addresses are varied by binding
// 127.0.0.2–5, as in TestHostileHTTP_H6_LoginRateLimit.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// upgradeFrom sends a WebSocket upgrade for /v1/ws from the loopback
// address ip ("" for any) with extra header pairs, and returns the raw
// connection if the server switched protocols, and its response (with the
// body when it did not). It skips the test where ip cannot be bound.
func upgradeFrom(t *testing.T, s *server, ip string, header ...string) (*wsrConn, response) {
	t.Helper()
	wc, resp := wsrHandshakeFrom(t, s, ip, func(h http.Header) {
		for i := 0; i+1 < len(header); i += 2 {
			h.Add(header[i], header[i+1])
		}
	})
	r := response{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		r.body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, r
	}
	return wc, r
}

// connectFrom opens a connection from ip and authenticates it with token.
func connectFrom(t *testing.T, s *server, ip, token string, header ...string) *wsrConn {
	t.Helper()
	c, r := upgradeFrom(t, s, ip, header...)
	if c == nil {
		t.Fatalf("upgrade from %s %v: %d %s", ip, header, r.status, r.body)
	}
	c.hello(token)
	return c
}

// refused429 checks that an HTTP request (an upgrade, a send) was refused
// with 429 by a limit: a Retry-After of 1 to maxWait seconds and the API's
// error body with the same wait in retry_after_ms.
func refused429(t *testing.T, what string, r response, maxWait int) {
	t.Helper()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d, want 429: %s", what, r.status, r.body)
	}
	secs, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > maxWait {
		t.Fatalf("%s: Retry-After %q, want 1–%d seconds", what, r.header.Get("Retry-After"), maxWait)
	}
	var eb struct {
		Error *protocol.Error `json:"error"`
	}
	if json.Unmarshal(r.body, &eb) != nil || eb.Error == nil || eb.Error.Code != 429 || eb.Error.Reason != "rate_limited" ||
		eb.Error.RetryAfterMS <= 0 || eb.Error.RetryAfterMS > int64(secs)*1000 {
		t.Fatalf("%s: body %s, want a 429 rate_limited error with retry_after_ms within Retry-After", what, r.body)
	}
}

// helloRefused sends hello on c and checks that it is answered with a 429
// error frame carrying retry_after_ms (at most maxWait), then closed with
// code.
func helloRefused(t *testing.T, c *wsrConn, token string, code int, maxWait time.Duration) *protocol.Error {
	t.Helper()
	c.send(protocol.Request{ID: "hello", Op: protocol.OpHello, Version: protocol.Version, Token: token})
	frames, _ := c.closed(code)
	for _, f := range frames {
		var pf protocol.Frame
		if f.Opcode == wsrText && json.Unmarshal(f.Payload, &pf) == nil && pf.ID == "hello" {
			e := pf.Error
			if pf.Type != protocol.TypeError || e == nil || e.Code != 429 || e.Reason != "rate_limited" ||
				e.RetryAfterMS <= 0 || time.Duration(e.RetryAfterMS)*time.Millisecond > maxWait {
				t.Fatalf("hello answered %s, want a 429 rate_limited error with retry_after_ms up to %v", f.Payload, maxWait)
			}
			return e
		}
	}
	t.Fatalf("closed with %d without an error frame answering hello", code)
	return nil
}

// rateLimited reads parley_rate_limited_total{limit} from /metrics.
func rateLimited(t *testing.T, s *server, limit string) int {
	t.Helper()
	return metricValue(t, s, `parley_rate_limited_total{limit="`+limit+`"}`)
}

// metricValue reads the value of one series (name and labels as /metrics
// writes them) from s's /metrics; it fails the test if there is none.
func metricValue(t *testing.T, s *server, series string) int {
	t.Helper()
	_, body := httpDo(t, "GET", s.URL+"/metrics", "", nil)
	prefix := series + " "
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return int(n)
		}
	}
	t.Fatalf("no %s…", prefix)
	return 0
}

// sendFrame is a WebSocket send of body to user to.
func sendFrame(id, to, clientMsgID string) protocol.Request {
	return protocol.Request{ID: id, Op: protocol.OpSend, To: to, ClientMsgID: clientMsgID, Body: "m " + clientMsgID}
}

// Sends, edits and deletes are limited per user across all their
// connections and HTTP; a refusal is a 429 with retry_after_ms (HTTP also
// Retry-After), stores nothing, does not count as a malformed frame, and
// leaves other users alone. The SDK waits and retries by itself.
func TestRateLimitSendsPerUser(t *testing.T) {
	t.Parallel()
	const perSecond, burst = 1, 3
	s := startServer(t, func(c *config.Config) {
		c.RateLimits.SendsPerUserPerSecond = perSecond
		c.RateLimits.SendBurst = burst
		// One malformed frame closes the connection: a refused send must
		// not count as one.
		c.Limits.MaxConsecutiveErrors = 1
	})
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	phone := wsrLogin(t, s, "alice", "phone")
	refusals := 0

	// Over WebSocket: the burst, then a refusal. A bucket refills one per
	// second; allow for what refilled meanwhile.
	start := time.Now()
	accepted := 0
	var refusal *protocol.Error
	for i := 0; refusal == nil; i++ {
		if i == 50 {
			t.Fatalf("50 sends in a row accepted with a burst of %d", burst)
		}
		f := phone.call(sendFrame(fmt.Sprint("s", i), "bob", fmt.Sprint("ws-", i)))
		switch {
		case f.Type == protocol.TypeAck:
			accepted++
		case f.Error != nil && f.Error.Code == 429:
			refusal = f.Error
			refusals++
		default:
			t.Fatalf("send %d: %+v", i, f)
		}
	}
	if most := burst + int(time.Since(start).Seconds()*perSecond) + 1; accepted < burst || accepted > most {
		t.Fatalf("%d sends accepted before the first refusal, want %d to %d", accepted, burst, most)
	}
	if refusal.Reason != "rate_limited" || refusal.RetryAfterMS <= 0 || refusal.RetryAfterMS > 1000 {
		t.Fatalf("refusal %+v, want rate_limited with retry_after_ms in (0, 1000]", refusal)
	}
	// The connection is still open and usable: a refusal is not a
	// protocol error (one would have closed it with 1008).
	if f := phone.call(protocol.Request{ID: "p", Op: protocol.OpPing}); f.Type != protocol.TypePong {
		t.Fatalf("ping after a refused send: %+v", f)
	}

	// Over HTTP, from another device of alice's: the same bucket.
	web := s.login("alice", "web")
	drained := time.Now()
	httpAccepted := 0
	for i := 0; ; i++ {
		if i == 50 {
			t.Fatal("50 HTTP sends in a row accepted after the bucket was drained")
		}
		body := []byte(fmt.Sprintf(`{"client_msg_id":"http-%d","body":"x"}`, i))
		r := rawDo(t, nil, newReq(t, "POST", s.URL+"/v1/users/bob/messages", bytes.NewReader(body),
			"Content-Type", "application/json", "Authorization", "Bearer "+web.Token))
		if r.status == http.StatusCreated {
			httpAccepted++
			continue
		}
		refused429(t, "HTTP send past the limit", r, 1)
		refusals++
		break
	}
	if most := int(time.Since(drained).Seconds()*perSecond) + 1; httpAccepted > most {
		t.Fatalf("%d HTTP sends accepted right after alice's WebSocket drained her bucket, want at most %d", httpAccepted, most)
	}

	// Bob has a bucket of his own.
	bob := s.login("bob", "phone")
	for i := range burst {
		if _, err := bob.Send(ctx, "", parley.SendOptions{To: "alice", Body: "hi", ClientMsgID: fmt.Sprint("bob-", i)}); err != nil {
			t.Fatalf("bob's send %d: %v", i, err)
		}
	}
	if got := rateLimited(t, s, "send"); got != refusals {
		t.Fatalf("parley_rate_limited_total{limit=\"send\"} = %d, want %d", got, refusals)
	}

	// Nothing refused was stored: the conversation holds exactly what was
	// acknowledged (alice's and bob's).
	h, err := bob.History(ctx, refusalConv(t, bob), parley.HistoryOptions{Limit: 300})
	if err != nil {
		t.Fatal(err)
	}
	if want := accepted + httpAccepted + burst; len(h.Messages) != want {
		t.Fatalf("history holds %d messages, want the %d acknowledged", len(h.Messages), want)
	}

	// The SDK retries a refused send after the advised delay, with the
	// same client message id: over WebSocket and over HTTP, each stored once.
	tablet := s.dial("alice", "tablet")
	for i := range 2 {
		ack, err := tablet.Send(ctx, parley.SendOptions{To: "bob", Body: "retried", ClientMsgID: fmt.Sprint("sdk-", i)})
		if err != nil || ack.Duplicate {
			t.Fatalf("SDK send %d: %+v %v, want an ack after waiting", i, ack, err)
		}
	}
	if ack, err := web.Send(ctx, "", parley.SendOptions{To: "bob", Body: "retried", ClientMsgID: "sdk-http"}); err != nil || ack.Duplicate {
		t.Fatalf("SDK HTTP send: %+v %v, want an ack after waiting", ack, err)
	}
}

// refusalConv returns the id of the direct conversation of api's user with
// alice.
func refusalConv(t *testing.T, api *parley.API) string {
	t.Helper()
	c, err := api.Direct(ctxT(t), "alice")
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// A user's connections are limited: a further device is refused after
// hello with 429 and close 3004; a device reconnecting takes its own slot
// over; a closed connection frees a slot; other users are not affected.
func TestRateLimitConnectionsPerUser(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.RateLimits.ConnectionsPerUser = 2 })
	s.user("alice")
	s.user("bob")
	phone := s.login("alice", "phone").Token
	wsrLogin(t, s, "alice", "web") // stays open
	phoneConn := connectFrom(t, s, "", phone)
	tablet := s.login("alice", "tablet").Token

	c, _ := upgradeFrom(t, s, "")
	helloRefused(t, c, tablet, protocol.CloseTooManyConnections, 5*time.Second)
	// The SDK reports the refusal, with the advised wait.
	_, err := parley.Dial(ctxT(t), parley.Options{URL: s.URL, Token: tablet})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != 429 || pe.RetryAfterMS <= 0 {
		t.Fatalf("SDK dial of a third device: %v, want a 429 with retry_after_ms", err)
	}
	wsrLogin(t, s, "bob", "phone")

	// The phone reconnecting replaces its own connection (3505): no slot
	// is needed.
	connectFrom(t, s, "", phone)
	phoneConn.closed(protocol.CloseTakeover)

	// Closing a connection frees its slot at once (the server detaches it
	// before it ends the TCP connection).
	webConn := wsrLogin(t, s, "alice", "web") // the web device again, taking over its own slot
	webConn.bye()
	connectFrom(t, s, "", tablet)

	if got := rateLimited(t, s, "conn_user"); got != 2 {
		t.Fatalf("parley_rate_limited_total{limit=\"conn_user\"} = %d, want 2", got)
	}
}

// Open connections per client address: past the limit the upgrade is
// refused with 429 before any WebSocket exists; other addresses are not
// affected; a closed connection frees its slot.
func TestRateLimitConnectionsPerIP(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.RateLimits.ConnectionsPerIP = 2 })
	s.user("alice")
	tok := func(device string) string { return s.login("alice", device).Token }
	first := connectFrom(t, s, "127.0.0.2", tok("d1"))
	connectFrom(t, s, "127.0.0.2", tok("d2"))
	c, r := upgradeFrom(t, s, "127.0.0.2")
	if c != nil {
		t.Fatal("a third connection from one address was upgraded")
	}
	refused429(t, "third connection from 127.0.0.2", r, 5)
	// The SDK reports the refused upgrade, with the advised wait.
	_, err := parley.Dial(ctxT(t), parley.Options{URL: s.URL, Token: tok("d3"), HTTPClient: clientFrom(t, "127.0.0.2")})
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != 429 || pe.RetryAfterMS != 5000 {
		t.Fatalf("SDK dial from the full address: %v, want a 429 with retry_after_ms 5000", err)
	}
	connectFrom(t, s, "127.0.0.3", tok("d4"))
	if got := rateLimited(t, s, "conn_ip"); got != 2 {
		t.Fatalf("parley_rate_limited_total{limit=\"conn_ip\"} = %d, want 2", got)
	}
	// The slot is released when the server has ended the connection, just
	// after the close handshake: poll.
	first.bye()
	waitFor(t, "a connection from 127.0.0.2 after one closed", 10*time.Second, func() bool {
		c, _ := upgradeFrom(t, s, "127.0.0.2")
		return c != nil
	})
}

// New connections per client address per minute: a token bucket; past it
// the upgrade is refused with 429 and a Retry-After until the next token.
func TestRateLimitConnectsPerIPPerMinute(t *testing.T) {
	t.Parallel()
	const perMinute = 3
	s := startServer(t, func(c *config.Config) { c.RateLimits.ConnectsPerIPPerMinute = perMinute })
	for i := range perMinute {
		c, r := upgradeFrom(t, s, "127.0.0.4")
		if c == nil {
			t.Fatalf("connection %d: %d %s", i, r.status, r.body)
		}
		c.c.Close()
	}
	_, r := upgradeFrom(t, s, "127.0.0.4")
	refused429(t, "connection past the rate", r, 60/perMinute)
	if c, r := upgradeFrom(t, s, "127.0.0.5"); c == nil {
		t.Fatalf("another address: %d %s", r.status, r.body)
	}
	if got := rateLimited(t, s, "conn_rate"); got != 1 {
		t.Fatalf("parley_rate_limited_total{limit=\"conn_rate\"} = %d, want 1", got)
	}
}

// A device that connects more than flapping_connects_per_minute times in a
// minute is banned: after hello it gets 429 with retry_after_ms and close
// 3005 until the ban ends (a short one here); its other devices and other
// users are not affected.
func TestRateLimitFlappingDevice(t *testing.T) {
	t.Parallel()
	const limit, ban = 3, time.Second
	s := startServer(t, func(c *config.Config) {
		c.RateLimits.FlappingConnectsPerMinute = limit
		c.RateLimits.FlappingBan = ban
	})
	s.user("alice")
	s.user("bob")
	phone := s.login("alice", "phone").Token
	for range limit {
		connectFrom(t, s, "", phone).bye()
	}
	c, _ := upgradeFrom(t, s, "")
	helloRefused(t, c, phone, protocol.CloseFlapping, ban)
	// Another device of alice's, and bob, connect as usual.
	wsrLogin(t, s, "alice", "tablet")
	wsrLogin(t, s, "bob", "phone")
	if got := rateLimited(t, s, "flapping"); got != 1 {
		t.Fatalf("parley_rate_limited_total{limit=\"flapping\"} = %d, want 1", got)
	}
	// The ban ends. Connects refused during it do not prolong it.
	waitFor(t, "the ban of alice's phone to end", 10*time.Second, func() bool {
		c, r := upgradeFrom(t, s, "")
		if c == nil {
			t.Fatalf("upgrade: %d %s", r.status, r.body)
		}
		c.send(protocol.Request{ID: "hello", Op: protocol.OpHello, Version: protocol.Version, Token: phone})
		f, err := c.read()
		if err != nil {
			t.Fatal(err)
		}
		var pf protocol.Frame
		if err := json.Unmarshal(f.Payload, &pf); err != nil {
			t.Fatalf("hello answered %q", f.Payload)
		}
		if pf.Type == protocol.TypeOK {
			return true
		}
		if pf.Error == nil || pf.Error.Code != 429 {
			t.Fatalf("hello during the ban answered %+v", pf)
		}
		time.Sleep(50 * time.Millisecond)
		return false
	})
}

// An address that attempts more than flapping_ip_connects_per_minute
// connections in a minute is banned: its upgrades are refused with 429
// until the ban ends; other addresses are not affected.
func TestRateLimitFlappingIP(t *testing.T) {
	t.Parallel()
	const limit = 3
	s := startServer(t, func(c *config.Config) {
		c.RateLimits.FlappingIPConnectsPerMinute = limit
		c.RateLimits.FlappingBan = time.Second
	})
	for i := range limit {
		c, r := upgradeFrom(t, s, "127.0.0.5")
		if c == nil {
			t.Fatalf("connection %d: %d %s", i, r.status, r.body)
		}
		c.c.Close()
	}
	_, r := upgradeFrom(t, s, "127.0.0.5")
	refused429(t, "connection past the flapping limit", r, 1)
	if c, r := upgradeFrom(t, s, "127.0.0.4"); c == nil {
		t.Fatalf("another address: %d %s", r.status, r.body)
	}
	if got := rateLimited(t, s, "flapping"); got != 1 {
		t.Fatalf("parley_rate_limited_total{limit=\"flapping\"} = %d, want 1", got)
	}
	waitFor(t, "the ban of 127.0.0.5 to end", 10*time.Second, func() bool {
		c, r := upgradeFrom(t, s, "127.0.0.5")
		if c == nil && r.status != http.StatusTooManyRequests {
			t.Fatalf("upgrade during the ban: %d %s", r.status, r.body)
		}
		if c == nil {
			time.Sleep(50 * time.Millisecond)
		}
		return c != nil
	})
}

// Behind a trusted proxy the client address is the rightmost untrusted
// entry of X-Forwarded-For, for the connection limits, the login limit and
// the logs; the same header from any other peer is ignored.
func TestRateLimitTrustedProxy(t *testing.T) {
	t.Parallel()
	s, logs := startServerWithLog(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.RateLimits.ConnectionsPerIP = 1
		c.RateLimits.LoginPerIPPerMinute = 2
	})
	s.user("alice")
	tok := func(device string) string { return s.login("alice", device).Token }
	const xff = "X-Forwarded-For"

	// Through the proxy (127.0.0.1): one connection per forwarded address.
	connectFrom(t, s, "127.0.0.1", tok("a"), xff, "203.0.113.1")
	_, r := upgradeFrom(t, s, "127.0.0.1", xff, "203.0.113.1")
	refused429(t, "second connection of 203.0.113.1 through the proxy", r, 5)
	connectFrom(t, s, "127.0.0.1", tok("b"), xff, "203.0.113.2")
	// What a client wrote left of the address the proxy appended is not
	// believed: this is 203.0.113.1 again.
	_, r = upgradeFrom(t, s, "127.0.0.1", xff, "198.51.100.7, 203.0.113.1")
	refused429(t, "a client-written X-Forwarded-For entry", r, 5)

	// From a peer that is not a trusted proxy the header is ignored: the
	// peer is the client, whatever it claims.
	connectFrom(t, s, "127.0.0.2", tok("c"), xff, "203.0.113.3")
	_, r = upgradeFrom(t, s, "127.0.0.2", xff, "203.0.113.4")
	refused429(t, "a spoofed X-Forwarded-For from an untrusted peer", r, 5)
	if got := rateLimited(t, s, "conn_ip"); got != 3 {
		t.Fatalf("parley_rate_limited_total{limit=\"conn_ip\"} = %d, want 3", got)
	}

	// The login limit (2 failures per address) counts per forwarded
	// address too.
	login := func(client *http.Client, forwarded string) int {
		body := []byte(`{"user":"alice","password":"wrong-password"}`)
		return rawDo(t, client, newReq(t, "POST", s.URL+"/v1/login", bytes.NewReader(body),
			"Content-Type", "application/json", xff, forwarded)).status
	}
	proxy, spoofer := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.3")
	for i, want := range []int{401, 401, 429} {
		if got := login(proxy, "192.0.2.10"); got != want {
			t.Fatalf("failed login %d of 192.0.2.10 through the proxy: %d, want %d", i, got, want)
		}
	}
	if got := login(proxy, "192.0.2.11"); got != 401 {
		t.Fatalf("another forwarded address: %d, want 401 (not limited)", got)
	}
	for i, want := range []int{401, 401, 429} {
		if got := login(spoofer, fmt.Sprint("192.0.2.", 20+i)); got != want {
			t.Fatalf("failed login %d from an untrusted peer with a new X-Forwarded-For each time: %d, want %d", i, got, want)
		}
	}

	// The request log names the client and, behind a proxy, the proxy.
	if l := logs.String(); !strings.Contains(l, "remote=192.0.2.10 peer=127.0.0.1") || !strings.Contains(l, "remote=127.0.0.3") ||
		strings.Contains(l, "remote=192.0.2.20") {
		t.Fatalf("request log does not name the clients as resolved:\n%s", l)
	}
}
