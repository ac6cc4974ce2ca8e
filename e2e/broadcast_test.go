package e2e

// One send to many friends (SCENARIOS.md S9, seed 001 scene 4), through the
// real server: alice sends one request to 200 friends, and each gets an
// ordinary direct message from her, with its own seq and unread count,
// over WebSocket, over MQTT, and on resume after being offline; nobody
// subscribed to anything. A user who blocked alice and a friends-only
// stranger are reported skipped; a retry with the same client_msg_id
// stores nothing new and answers the same. Lists are managed over HTTP,
// and broadcasts go out over HTTP and MQTT (mosquitto_pub and Paho 5) too.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// quickUsers creates users without passwords (no password hashing: they
// sign in with tokens, tokenFor).
func (s *server) quickUsers(names ...string) {
	s.t.Helper()
	for _, n := range names {
		if _, err := s.app.Core().CreateUser(context.Background(), n, "", ""); err != nil {
			s.t.Fatalf("create user %s: %v", n, err)
		}
	}
}

// tokenFor opens a session of user's device and returns its access token.
func (s *server) tokenFor(user, device string) string {
	s.t.Helper()
	tok, err := s.app.Core().OpenSession(context.Background(), user, device, time.Hour)
	if err != nil {
		s.t.Fatalf("session of %s/%s: %v", user, device, err)
	}
	return tok.AccessToken
}

// dialWithToken connects an SDK client of user's device with a token.
func (s *server) dialWithToken(user, device string) *parley.Client {
	s.t.Helper()
	c, err := parley.Dial(ctxT(s.t), parley.Options{URL: s.URL, Token: s.tokenFor(user, device),
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond})
	if err != nil {
		s.t.Fatalf("dial %s/%s: %v", user, device, err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// befriendAll makes user friends with each of others through the core's
// friend requests (each asks, user accepts), a few at a time.
func (s *server) befriendAll(user string, others []string) {
	s.t.Helper()
	c := s.app.Core()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(others))
	work := make(chan string)
	for range 4 {
		wg.Go(func() {
			for o := range work {
				if _, err := c.RequestFriend(ctx, core.Identity{User: o, Device: "setup"}, user, ""); err != nil {
					errs <- fmt.Errorf("%s asks %s: %w", o, user, err)
					continue
				}
				if _, err := c.AnswerFriend(ctx, core.Identity{User: user, Device: "setup"}, o, true); err != nil {
					errs <- fmt.Errorf("%s accepts %s: %w", user, o, err)
				}
			}
		})
	}
	for _, o := range others {
		work <- o
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		s.t.Fatal(err)
	}
}

// directFrom waits for the direct message from `from` with body on c,
// skipping other messages.
func directFrom(t *testing.T, c *parley.Client, from, body string, timeout time.Duration) protocol.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatalf("messages channel closed waiting for %q from %s", body, from)
			}
			if m.From == from && m.Body == body {
				return m
			}
		case <-deadline:
			t.Fatalf("no %q from %s within %v", body, from, timeout)
		}
	}
}

// wantCopyOf fails unless m is alice's copy of broadcast id to user: an
// ordinary direct message at seq 1 of their direct conversation.
func wantCopyOf(t *testing.T, m protocol.Message, from, user, id, body string) {
	t.Helper()
	if m.From != from || m.Conv != core.DirectID(from, user) || m.Seq != 1 || m.Kind != protocol.KindMessage ||
		m.Body != body || m.ClientMsgID != id+"/"+user {
		t.Fatalf("%s got %+v, want %s's %q at seq 1 of %s, client_msg_id %s/%s", user, m, from, body, core.DirectID(from, user), id, user)
	}
}

// unreadWith returns user's unread count in the direct conversation with
// peer, over HTTP.
func (s *server) unreadWith(user, peer string) int {
	s.t.Helper()
	status, body := httpDo(s.t, "GET", s.URL+"/v1/conversations/"+core.DirectID(user, peer), s.tokenFor(user, "web"), nil)
	var c protocol.Conversation
	if err := json.Unmarshal(body, &c); status != 200 || err != nil {
		s.t.Fatalf("%s's conversation with %s: %d %s", user, peer, status, body)
	}
	return c.Unread
}

// noMessageFrom checks that c receives no message from `from` for d.
func noMessageFrom(t *testing.T, c *parley.Client, from string, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-c.Messages():
			if m.From == from {
				t.Fatalf("unexpected message from %s: %+v", from, m)
			}
		case <-deadline:
			return
		}
	}
}

// TestBroadcastToTwoHundredFriends is S9: alice, on a WebSocket, sends one
// broadcast to her 200 friends, a user who blocked her and a friends-only
// stranger. Each friend gets one direct message from her with seq 1 and
// unread 1, in their own conversation: one on a WebSocket, one on MQTT
// (Paho 3.1.1, subscribed only to its own inbox), one offline who gets it
// on resume; alice's own device gets every copy. The two others are
// reported skipped (not_found, as an unknown user would be; not_accepted).
// The retry stores nothing and answers with the same acknowledgements.
func TestBroadcastToTwoHundredFriends(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	ctx := ctxT(t)
	friends := make([]string, 200)
	for i := range friends {
		friends[i] = fmt.Sprintf("f%03d", i)
	}
	s.quickUsers(append([]string{"alice", "mallory", "sam"}, friends...)...)
	start := time.Now()
	s.befriendAll("alice", friends)
	t.Logf("200 friendships made in %v", time.Since(start))
	c := s.app.Core()
	inbound := protocol.InboundFriends
	for _, u := range []string{"sam", "f001"} { // sam a stranger, f001 a friend
		if _, err := c.UpdateSettings(ctx, core.Identity{User: u, Device: "setup"}, core.SettingsUpdate{Inbound: &inbound}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Block(ctx, "mallory", "alice"); err != nil {
		t.Fatal(err)
	}

	// f000 on a WebSocket, f001 on MQTT, f002 offline; alice on a WebSocket.
	f000 := s.dialWithToken("f000", "phone")
	f001 := s.mqttConnectWith(s.mqtt3Options("f001", "f001-phone", false).SetPassword(s.tokenFor("f001", "f001-phone")))
	f001.subscribe("IMS/f001/Inbox/#", 1)
	alice := s.dialWithToken("alice", "phone")
	aliceAPI := &parley.API{BaseURL: s.URL, Token: s.tokenFor("alice", "web")}

	to := append(append([]string{}, friends...), "mallory", "sam")
	req := protocol.BroadcastRequest{To: to, ClientMsgID: "new-year-2027", Body: "Happy new year!"}
	start = time.Now()
	res, err := alice.Broadcast(ctx, req)
	if err != nil {
		t.Fatalf("broadcast: %v", err)
	}
	t.Logf("broadcast to 202 answered in %v", time.Since(start))
	if res.Sent != 200 || res.Stored != 200 || res.Skipped != 2 || len(res.Results) != 202 {
		t.Fatalf("result: sent %d, stored %d, skipped %d, %d results; want 200, 200, 2 of 202", res.Sent, res.Stored, res.Skipped, len(res.Results))
	}
	convs := map[string]bool{}
	for i, f := range friends {
		r := res.Results[i]
		if r.User != f || r.Ack == nil || r.Ack.Conv != core.DirectID("alice", f) || r.Ack.Seq != 1 || r.Ack.ClientMsgID != "new-year-2027/"+f || r.Ack.Duplicate {
			t.Fatalf("result %d: %+v (ack %+v)", i, r, r.Ack)
		}
		convs[r.Ack.Conv] = true
	}
	if len(convs) != 200 {
		t.Fatalf("the copies went to %d conversations, want 200", len(convs))
	}
	// mallory, who blocked alice, looks like a user who does not exist.
	nobody, err := alice.Broadcast(ctx, protocol.BroadcastRequest{To: []string{"nobody"}, ClientMsgID: "probe", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Results[200], nobody.Results[0]; got.User != "mallory" || got.Error == nil || *got.Error != *want.Error || got.Error.Reason != "not_found" {
		t.Fatalf("mallory: %+v (error %+v), want exactly what an unknown user gets: %+v", got, got.Error, want.Error)
	}
	if got := res.Results[201]; got.User != "sam" || got.Error == nil || got.Error.Reason != "not_accepted" || got.Error.Code != 403 {
		t.Fatalf("sam: %+v (error %+v), want 403 not_accepted", got, got.Error)
	}

	// Each friend gets it as a direct message from alice.
	wantCopyOf(t, directFrom(t, f000, "alice", "Happy new year!", 15*time.Second), "alice", "f000", "new-year-2027", "Happy new year!")
	for {
		m := recvMQTT(t, f001.ch, 1, 15*time.Second)[0]
		if !strings.HasPrefix(m.Topic, "IMS/f001/Inbox/Msg/d_") {
			continue // the friend request's entries in f001's system conversation
		}
		if m.Topic != "IMS/f001/Inbox/Msg/"+core.DirectID("alice", "f001") {
			t.Fatalf("f001 got its copy on %s", m.Topic)
		}
		wantCopyOf(t, m.message(t), "alice", "f001", "new-year-2027", "Happy new year!")
		break
	}
	f002 := s.dialWithToken("f002", "phone") // offline until now: on resume
	wantCopyOf(t, directFrom(t, f002, "alice", "Happy new year!", 15*time.Second), "alice", "f002", "new-year-2027", "Happy new year!")
	for _, f := range []string{"f000", "f002", "f150"} {
		if n := s.unreadWith(f, "alice"); n != 1 {
			t.Errorf("%s: %d unread with alice, want 1", f, n)
		}
	}
	// alice's own device gets every copy (sent-sync).
	own := map[string]bool{}
	deadline := time.After(20 * time.Second)
	for len(own) < 200 {
		select {
		case m := <-alice.Messages():
			if m.From == "alice" && strings.HasPrefix(m.ClientMsgID, "new-year-2027/") {
				own[m.Conv] = true
			}
		case <-deadline:
			t.Fatalf("alice's device got %d of the 200 copies", len(own))
		}
	}

	// The retry: nothing new, the same acknowledgements.
	again, err := alice.Broadcast(ctx, req)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if again.Sent != 200 || again.Stored != 0 || again.Skipped != 2 {
		t.Fatalf("retry: sent %d, stored %d, skipped %d; want 200, 0, 2", again.Sent, again.Stored, again.Skipped)
	}
	for i := range friends {
		a, b := again.Results[i].Ack, res.Results[i].Ack
		if a == nil || a.ID != b.ID || a.Seq != b.Seq || a.Conv != b.Conv || !a.Duplicate {
			t.Fatalf("retry, %s: %+v, want %+v as a duplicate", friends[i], a, b)
		}
	}
	noMessageFrom(t, f000, "alice", 300*time.Millisecond)
	p, err := aliceAPI.History(ctx, core.DirectID("alice", "f000"), parley.HistoryOptions{})
	if err != nil || len(p.Messages) != 1 {
		t.Fatalf("alice and f000's conversation after the retry: %d messages (%v), want 1", len(p.Messages), err)
	}
}

// TestBroadcastListsOverHTTPAndMQTT: alice manages a broadcast list over
// HTTP and sends to it over HTTP (201, then 200 for the retry), with
// mosquitto_pub on IMS/alice/Broadcast/<list> (PUBACK once stored), and
// with Paho 5 to users named in the payload on IMS/alice/Broadcast: the
// result arrives on IMS/alice/Inbox/Broadcast, and a broadcast that
// reaches nobody is acknowledged with 0x10 (no matching subscribers).
func TestBroadcastListsOverHTTPAndMQTT(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	ctx := ctxT(t)
	s.quickUsers("bob", "carol", "dave", "mallory")
	s.user("alice") // with a password, for mosquitto_pub
	bob := s.dialWithToken("bob", "phone")
	api := &parley.API{BaseURL: s.URL, Token: s.tokenFor("alice", "web")}

	l, err := api.CreateBroadcastList(ctx, protocol.BroadcastListCreate{List: "family", Name: "Family", Members: []string{"bob", "carol"}})
	if err != nil || l.ID != "family" || l.Members != 2 {
		t.Fatalf("create family: %+v, %v", l, err)
	}
	if l, err = api.ChangeBroadcastList(ctx, "family", []string{"dave", "mallory"}, []string{"carol"}); err != nil || l.Members != 3 {
		t.Fatalf("+dave +mallory -carol: %+v, %v", l, err)
	}
	if err := s.app.Core().Block(ctx, "mallory", "alice"); err != nil {
		t.Fatal(err)
	}
	m, err := api.BroadcastMembers(ctx, "family", "", 10)
	if err != nil || strings.Join(m.Members, ",") != "bob,dave,mallory" {
		t.Fatalf("members: %+v, %v", m, err)
	}
	if _, err := api.ChangeBroadcastList(ctx, "family", []string{"nobody"}, nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("adding an unknown user: %v, want 400", err)
	}

	// HTTP: 201, then 200 for the retry, with the same answer.
	body := `{"list":"family","client_msg_id":"http-1","body":"from HTTP"}`
	status, raw := httpDo(t, "POST", s.URL+"/v1/broadcasts", api.Token, json.RawMessage(body))
	var first protocol.BroadcastResult
	if err := json.Unmarshal(raw, &first); status != 201 || err != nil || first.Stored != 2 || first.Skipped != 1 || first.List != "family" {
		t.Fatalf("POST /v1/broadcasts: %d %s", status, raw)
	}
	status, raw = httpDo(t, "POST", s.URL+"/v1/broadcasts", api.Token, json.RawMessage(body))
	var retry protocol.BroadcastResult
	if err := json.Unmarshal(raw, &retry); status != 200 || err != nil || retry.Stored != 0 || retry.Sent != 2 || retry.Results[0].Ack.ID != first.Results[0].Ack.ID {
		t.Fatalf("the retry: %d %s", status, raw)
	}
	if first.Results[2].User != "mallory" || first.Results[2].Error == nil || first.Results[2].Error.Reason != "not_found" {
		t.Fatalf("mallory: %+v", first.Results[2])
	}
	wantCopyOf(t, directFrom(t, bob, "alice", "from HTTP", 10*time.Second), "alice", "bob", "http-1", "from HTTP")

	// mosquitto_pub to the list, 3.1.1 and 5.0, with client message ids in
	// the envelope: PUBACK once every copy is stored.
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	host, port, err := net.SplitHostPort(s.app.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"mqttv311", "mqttv5"} {
		text := "from mosquitto " + v
		env := fmt.Sprintf(`{"client_msg_id":"mq-%d","body":%q}`, i, text)
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		out, err := exec.CommandContext(pctx, pub, "-h", host, "-p", port, "-u", "alice", "-P", "password-alice", "-V", v,
			"-q", "1", "-d", "-i", "alice-pub", "-t", "IMS/alice/Broadcast/family", "-m", env).CombinedOutput()
		cancel()
		if err != nil || !strings.Contains(string(out), "received PUBACK (Mid: 1, RC:0)") {
			t.Fatalf("mosquitto_pub %s: %v\n%s", v, err, out)
		}
		// The PUBACK came after the commit: the copies are there.
		p, err := api.History(ctx, core.DirectID("alice", "dave"), parley.HistoryOptions{})
		if err != nil || len(p.Messages) == 0 || p.Messages[len(p.Messages)-1].Body != text {
			t.Fatalf("after the PUBACK, dave's conversation with alice: %+v, %v", p.Messages, err)
		}
		got := directFrom(t, bob, "alice", text, 10*time.Second)
		if got.ClientMsgID != fmt.Sprintf("mq-%d/bob", i) || got.Conv != core.DirectID("alice", "bob") {
			t.Fatalf("bob got %+v", got)
		}
	}

	// mosquitto_rr, to users named in the payload: it subscribes to the
	// result topic, publishes, and prints the result it gets back.
	rr := needTool(t, "mosquitto_rr", "the Debian package mosquitto-clients")
	rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
	out, err := exec.CommandContext(rctx, rr, "-h", host, "-p", port, "-u", "alice", "-P", "password-alice", "-V", "mqttv5",
		"-q", "1", "-i", "alice-rr", "-t", "IMS/alice/Broadcast", "-e", "IMS/alice/Inbox/Broadcast", "-W", "10",
		"-m", `{"to":["bob","carol","mallory"],"client_msg_id":"rr-1","body":"from mosquitto_rr"}`).Output()
	rcancel()
	var rrResult protocol.BroadcastResult
	if err != nil || json.Unmarshal(out, &rrResult) != nil || rrResult.ClientMsgID != "rr-1" || rrResult.Sent != 2 || rrResult.Skipped != 1 {
		t.Fatalf("mosquitto_rr: %v: %s", err, out)
	}
	directFrom(t, bob, "alice", "from mosquitto_rr", 10*time.Second)

	// Paho 5, to users named in the payload: the result on the inbox, and
	// 0x10 when nobody gets it.
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	alice5 := connectPaho5(t, conn, "alice", "alice-paho5")
	res, err := alice5.c.Publish(ctx, &paho5.Publish{Topic: "IMS/alice/Broadcast", QoS: 1,
		Payload: []byte(`{"to":["bob","carol","mallory"],"client_msg_id":"p5-1","body":"from Paho"}`)})
	if err != nil || res.ReasonCode != 0 {
		t.Fatalf("paho5 broadcast: %+v, %v", res, err)
	}
	result := broadcastResult(t, alice5, "p5-1")
	if result.Sent != 2 || result.Skipped != 1 || result.Results[2].User != "mallory" || result.Results[2].Error.Reason != "not_found" {
		t.Fatalf("result on IMS/alice/Inbox/Broadcast: %+v", result)
	}
	directFrom(t, bob, "alice", "from Paho", 10*time.Second)
	res, err = alice5.c.Publish(ctx, &paho5.Publish{Topic: "IMS/alice/Broadcast", QoS: 1,
		Payload: []byte(`{"to":["mallory","nobody"],"client_msg_id":"p5-2","body":"to nobody"}`)})
	if result := broadcastResult(t, alice5, "p5-2"); result.Sent != 0 || result.Skipped != 2 {
		t.Fatalf("result of the broadcast to nobody: %+v", result)
	}
	if err != nil || res.ReasonCode != 0x10 {
		t.Fatalf("a broadcast that reaches nobody: %+v, %v; want PUBACK 0x10", res, err)
	}
	// A broadcast the server refuses as a whole (an unknown list) is
	// refused like any publish: 0x87 (not authorized: not found).
	res, err = alice5.c.Publish(ctx, &paho5.Publish{Topic: "IMS/alice/Broadcast/nolist", QoS: 1, Payload: []byte("x")})
	if res == nil || res.ReasonCode != 0x87 {
		t.Fatalf("to a list alice does not have: %+v, %v; want 0x87", res, err)
	}

	if err := api.DeleteBroadcastList(ctx, "family"); err != nil {
		t.Fatal(err)
	}
	if ls, err := api.BroadcastLists(ctx, "", 0); err != nil || len(ls.Lists) != 0 {
		t.Fatalf("lists after the delete: %+v, %v", ls, err)
	}
}

// broadcastResult waits for the result of broadcast id on
// IMS/alice/Inbox/Broadcast.
func broadcastResult(t *testing.T, pc *paho5Client, id string) protocol.BroadcastResult {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-pc.ch:
			if p.Topic != "IMS/alice/Inbox/Broadcast" {
				continue
			}
			var r protocol.BroadcastResult
			if err := json.Unmarshal(p.Payload, &r); err != nil {
				t.Fatalf("result %s: %v", p.Payload, err)
			}
			if r.ClientMsgID == id {
				return r
			}
		case <-deadline:
			t.Fatalf("no result of %s on IMS/alice/Inbox/Broadcast", id)
		}
	}
}

// TestBroadcastReceiptsAndMQTTRetry: a broadcast copy is an ordinary
// direct message, receipts included (docs/protocol.md 2.7): when bob acks
// and reads his copy, alice's WebSocket device gets bob's delivered and
// read receipts for their direct conversation. And a broadcast published
// again over MQTT with the same client_msg_id stores nothing new: the
// result on IMS/alice/Inbox/Broadcast says so with the first
// acknowledgements, and the recipients' histories hold one copy each.
func TestBroadcastReceiptsAndMQTTRetry(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	ctx := ctxT(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	alice := s.dial("alice", "phone")
	bob := s.dial("bob", "phone", func(o *parley.Options) { o.ManualAck = true })
	conv := core.DirectID("alice", "bob")

	res, err := alice.Broadcast(ctx, protocol.BroadcastRequest{To: []string{"bob", "carol"}, ClientMsgID: "rcpt-1", Body: "Dinner at 8"})
	if err != nil || res.Stored != 2 || res.Results[0].Ack == nil || res.Results[0].Ack.Conv != conv {
		t.Fatalf("broadcast: %+v, %v", res, err)
	}
	m := directFrom(t, bob, "alice", "Dinner at 8", 10*time.Second)
	wantCopyOf(t, m, "alice", "bob", "rcpt-1", "Dinner at 8")
	if err := bob.Ack(ctx, m.Conv, m.Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Read(ctx, m.Conv, m.Seq); err != nil {
		t.Fatal(err)
	}
	var delivered, read uint64
	deadline := time.After(10 * time.Second)
	for delivered < m.Seq || read < m.Seq {
		select {
		case e := <-alice.Events():
			if e.Type != protocol.TypeReceipt {
				continue
			}
			if r := e.Receipt; r.Conv != conv || r.User != "bob" {
				t.Fatalf("alice got receipt %+v, want bob's in %s", r, conv)
			}
			delivered, read = max(delivered, e.Receipt.Delivered), max(read, e.Receipt.Read)
		case <-deadline:
			t.Fatalf("alice's receipts from bob: delivered %d, read %d; want %d each", delivered, read, m.Seq)
		}
	}

	// Over MQTT 5 (Paho), then again, then once more with mosquitto_pub
	// (3.1.1): one copy each.
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	alice5 := connectPaho5(t, conn, "alice", "alice-paho5")
	payload := []byte(`{"to":["bob","carol"],"client_msg_id":"mq-retry","body":"Bring wine"}`)
	var first protocol.BroadcastResult
	for i := range 2 {
		pr, err := alice5.c.Publish(ctx, &paho5.Publish{Topic: "IMS/alice/Broadcast", QoS: 1, Payload: payload})
		if err != nil || pr.ReasonCode != 0 {
			t.Fatalf("paho5 broadcast %d: %+v, %v", i, pr, err)
		}
		r := broadcastResult(t, alice5, "mq-retry")
		if i == 0 {
			if r.Sent != 2 || r.Stored != 2 || r.Skipped != 0 || len(r.Results) != 2 {
				t.Fatalf("first result: %+v", r)
			}
			first = r
			continue
		}
		if r.Sent != 2 || r.Stored != 0 || r.Skipped != 0 || len(r.Results) != 2 {
			t.Fatalf("the retry's result: %+v, want sent 2, stored 0", r)
		}
		for j, c := range r.Results {
			a, b := c.Ack, first.Results[j].Ack
			if a == nil || b == nil || a.ID != b.ID || a.Seq != b.Seq || a.Conv != b.Conv || !a.Duplicate {
				t.Fatalf("the retry, %s: %+v, want %+v as a duplicate", c.User, a, b)
			}
		}
	}
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	host, port := mqttHostPort(t, s)
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(pctx, pub, "-h", host, "-p", port, "-u", "alice", "-P", "password-alice", "-V", "mqttv311",
		"-q", "1", "-d", "-i", "alice-pub", "-t", "IMS/alice/Broadcast", "-m", string(payload)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "received PUBACK") {
		t.Fatalf("mosquitto_pub of the retry: %v\n%s", err, out)
	}
	directFrom(t, bob, "alice", "Bring wine", 10*time.Second)
	noMessageFrom(t, bob, "alice", 300*time.Millisecond)
	for _, u := range []string{"bob", "carol"} {
		p, err := s.login(u, "web").History(ctx, core.DirectID("alice", u), parley.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range p.Messages {
			if m.ClientMsgID == "mq-retry/"+u {
				n++
			}
		}
		if n != 1 || len(p.Messages) != 2 {
			t.Fatalf("%s's conversation with alice after the retries: %d copies of mq-retry in %d messages, want 1 in 2", u, n, len(p.Messages))
		}
	}
}
