package e2e

// Blocking (docs/protocol.md, Blocking) through the real server: once
// alice blocks bob, bob's sends to her fail on every protocol exactly like
// sends to a user (or a conversation) that does not exist, at once and
// without a reconnect; alice's own sends to bob are refused as blocked;
// unblocking restores everything at once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// wsSendErr sends over c and returns the refusal (zero if stored).
func wsSendErr(t *testing.T, c *parley.Client, o parley.SendOptions) protocol.Error {
	t.Helper()
	_, err := c.Send(ctxT(t), o)
	if err == nil {
		return protocol.Error{}
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("send %+v: %v, not a protocol error", o, err)
	}
	return *pe
}

// sameRefusal fails unless got is a refusal exactly like want.
func sameRefusal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	var zero T
	if got == zero || got != want {
		t.Fatalf("%s: %v, want exactly what a send to nobody gets: %v", what, got, want)
	}
}

// paho5Refusal publishes body to topic at QoS 1 and returns the PUBACK's
// reason code and reason string.
func paho5Refusal(t *testing.T, pc *paho5Client, topic, body string) string {
	t.Helper()
	res, err := pc.c.Publish(ctxT(t), &paho5.Publish{Topic: topic, QoS: 1, Payload: []byte(body)})
	if res == nil {
		t.Fatalf("publish to %s: no PUBACK (%v)", topic, err)
	}
	reason := ""
	if res.Properties != nil {
		reason = res.Properties.ReasonString
	}
	b, _ := json.Marshal(map[string]any{"code": res.ReasonCode, "reason": reason})
	return string(b)
}

// paho3Refusal publishes body to topic at QoS 1 over MQTT 3.1.1 on a new
// connection of bob, and returns the Error notice it gets; the connection
// must then be closed without a PUBACK.
func paho3Refusal(t *testing.T, s *server, topic, body string) string {
	t.Helper()
	lost := make(chan error, 1)
	o := s.mqtt3Options("bob", "bob-311-"+regexp.MustCompile(`\W`).ReplaceAllString(topic, "-"), true)
	o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
	m := s.mqttConnectWith(o)
	m.subscribe("IMS/bob/Inbox/Error", 0)
	tok := m.c.Publish(topic, 1, false, body)
	notice := m.recv(1, 10*time.Second)[0]
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatalf("publish to %s: the connection is still open after the refusal", topic)
	}
	if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		t.Fatalf("publish to %s was acknowledged", topic)
	}
	return notice.Topic + " " + string(notice.Payload)
}

// mosquittoPubRefusal runs mosquitto_pub (MQTT 5) as bob and returns the
// PUBACK line it prints, without the client id.
func mosquittoPubRefusal(t *testing.T, s *server, pub, topic, body string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(s.app.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, pub, "-h", host, "-p", port, "-u", "bob", "-P", "password-bob", "-V", "mqttv5",
		"-q", "1", "-d", "-i", "bob-pub", "-t", topic, "-m", body).CombinedOutput()
	line := regexp.MustCompile(`received PUBACK \(Mid: \d+, RC:\d+\)`).Find(out)
	if line == nil {
		t.Fatalf("mosquitto_pub to %s printed no PUBACK:\n%s", topic, out)
	}
	return string(line)
}

func TestBlockRefusesLikeAnUnknownUserOnEveryProtocol(t *testing.T) {
	t.Parallel()
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.user(u)
	}
	ctx := ctxT(t)
	aliceWS, bobWS := s.dial("alice", "phone"), s.dial("bob", "phone")
	aliceAPI, bobAPI := s.login("alice", "web"), s.login("bob", "web")
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bob5 := connectPaho5(t, conn, "bob", "bob-paho5")

	before, err := bobWS.Send(ctx, parley.SendOptions{To: "alice", Body: "before"})
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, aliceWS, 1, 10*time.Second)[0]; m.ID != before.ID {
		t.Fatalf("alice got %+v, want bob's first message", m)
	}
	conv := before.Conv
	other, err := s.login("carol", "web").Send(ctx, "", parley.SendOptions{To: "dave", Body: "not bob's"})
	if err != nil {
		t.Fatal(err)
	}

	if err := aliceWS.Block(ctx, "bob"); err != nil {
		t.Fatal(err)
	}

	// WebSocket, by user and by conversation.
	sameRefusal(t, "WebSocket send to alice", wsSendErr(t, bobWS, parley.SendOptions{To: "alice", Body: "x"}),
		wsSendErr(t, bobWS, parley.SendOptions{To: "nobody", Body: "x"}))
	if pe := wsSendErr(t, bobWS, parley.SendOptions{To: "nobody", Body: "x"}); pe.Code != 404 || pe.Reason != "not_found" {
		t.Fatalf("a send to nobody: %+v, want 404 not_found", pe)
	}
	sameRefusal(t, "WebSocket send into the conversation with alice", wsSendErr(t, bobWS, parley.SendOptions{Conv: conv, Body: "x"}),
		wsSendErr(t, bobWS, parley.SendOptions{Conv: other.Conv, Body: "x"}))

	// HTTP: status and body alike.
	httpSend := func(path string) string {
		status, body := httpDo(t, "POST", s.URL+path, bobAPI.Token, map[string]string{"client_msg_id": parley.NewClientMsgID(), "body": "x"})
		return fmt.Sprint(status, " ", string(bytes.TrimSpace(body)))
	}
	sameRefusal(t, "HTTP send to alice", httpSend("/v1/users/alice/messages"), httpSend("/v1/users/nobody/messages"))
	sameRefusal(t, "HTTP send into the conversation with alice", httpSend("/v1/conversations/"+conv+"/messages"),
		httpSend("/v1/conversations/"+other.Conv+"/messages"))

	// MQTT 5 (Paho, mosquitto_pub) and 3.1.1 (Paho).
	sameRefusal(t, "MQTT 5 publish to IMS/p2p/alice", paho5Refusal(t, bob5, "IMS/p2p/alice", "x"),
		paho5Refusal(t, bob5, "IMS/p2p/nobody", "x"))
	if got := paho5Refusal(t, bob5, "IMS/p2p/nobody", "x"); got != `{"code":135,"reason":""}` {
		t.Fatalf("MQTT 5 refusal of a send to nobody: %s, want 0x87 without a reason string", got)
	}
	sameRefusal(t, "mosquitto_pub to IMS/p2p/alice", mosquittoPubRefusal(t, s, pub, "IMS/p2p/alice", "x"),
		mosquittoPubRefusal(t, s, pub, "IMS/p2p/nobody", "x"))
	sameRefusal(t, "MQTT 3.1.1 publish to IMS/p2p/alice", paho3Refusal(t, s, "IMS/p2p/alice", "x"),
		paho3Refusal(t, s, "IMS/p2p/nobody", "x"))

	// The blocker is told why her own sends are refused.
	if pe := wsSendErr(t, aliceWS, parley.SendOptions{To: "bob", Body: "x"}); pe.Code != 403 || pe.Reason != "blocked" {
		t.Fatalf("alice's send to bob, whom she blocks: %+v, want 403 blocked", pe)
	}
	// Block lists are private: each sees their own.
	if l, err := aliceAPI.Blocks(ctx, "", 0); err != nil || len(l.Blocks) != 1 || l.Blocks[0].User != "bob" {
		t.Fatalf("alice's blocks %+v, %v; want bob", l, err)
	}
	if l, err := bobAPI.Blocks(ctx, "", 0); err != nil || len(l.Blocks) != 0 {
		t.Fatalf("bob's blocks %+v, %v; want none", l, err)
	}
	if l, err := aliceWS.Blocks(ctx, "", 10); err != nil || len(l.Blocks) != 1 || l.Blocks[0].User != "bob" || l.Blocks[0].Since == 0 {
		t.Fatalf("alice's blocks over WebSocket %+v, %v; want bob", l, err)
	}

	// Unblocking (over HTTP) restores every protocol at once.
	if err := aliceAPI.Unblock(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bobWS.Send(ctx, parley.SendOptions{To: "alice", Body: "after ws"}); err != nil {
		t.Fatalf("WebSocket send after the unblock: %v", err)
	}
	if _, err := bobAPI.Send(ctx, conv, parley.SendOptions{Body: "after http"}); err != nil {
		t.Fatalf("HTTP send after the unblock: %v", err)
	}
	if got := paho5Refusal(t, bob5, "IMS/p2p/alice", "after mqtt"); got != `{"code":0,"reason":""}` {
		t.Fatalf("MQTT 5 send after the unblock: %s, want PUBACK 0", got)
	}
	// alice's next messages are these three: nothing of the blocked
	// attempts was stored.
	for i, m := range recv(t, aliceWS, 3, 10*time.Second) {
		if want := []string{"after ws", "after http", "after mqtt"}[i]; m.Body != want || m.Seq != before.Seq+1+uint64(i) {
			t.Fatalf("alice's message %d after the unblock: %+v, want %q with seq %d", i, m, want, before.Seq+1+uint64(i))
		}
	}
}

// TestBlockDropsPendingFriendRequest: bob's pending friend request to
// alice is gone once she blocks him, and he cannot ask again (404, as for
// nobody); carol's request stays. Unblocking lets him ask again.
func TestBlockDropsPendingFriendRequest(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	alice, bob, carol := s.login("alice", "web"), s.login("bob", "web"), s.login("carol", "web")
	ask := func(from *parley.API, to string) string {
		status, body := httpDo(t, "POST", s.URL+"/v1/friends/requests", from.Token, map[string]string{"user": to, "text": "hi"})
		return fmt.Sprint(status, " ", string(bytes.TrimSpace(body)))
	}
	incoming := func() []string {
		status, body := httpDo(t, "GET", s.URL+"/v1/friends/requests?direction=in", alice.Token, nil)
		var l protocol.PendingFriendList
		if status != 200 || json.Unmarshal(body, &l) != nil {
			t.Fatalf("alice's incoming requests: %d %s", status, body)
		}
		var from []string
		for _, r := range l.Requests {
			from = append(from, r.From)
		}
		return from
	}
	for _, from := range []*parley.API{bob, carol} {
		if got := ask(from, "alice"); got[:3] != "200" {
			t.Fatalf("request to alice: %s", got)
		}
	}
	if err := alice.Block(ctxT(t), "bob"); err != nil {
		t.Fatal(err)
	}
	if got := incoming(); len(got) != 1 || got[0] != "carol" {
		t.Fatalf("alice's incoming requests after blocking bob: %v, want carol's only", got)
	}
	sameRefusal(t, "bob asks alice again", ask(bob, "alice"), ask(bob, "nobody"))
	if err := alice.Unblock(ctxT(t), "bob"); err != nil {
		t.Fatal(err)
	}
	if got := ask(bob, "alice"); got[:3] != "200" {
		t.Fatalf("bob's request after the unblock: %s", got)
	}
}

// TestBlockTellsTheBlockedNothing (issue 12 point 3, protocol.md 2.15
// "mallory is told nothing"): bob shares a group with alice, so that he
// sees her presence, and has a friend request pending with her; when she
// blocks him, which drops that request, neither of bob's devices (a
// WebSocket, an MQTT 3.1.1 client subscribed to IMS/bob/Inbox/#) gets
// anything about it: carol's message, sent after the block, is the next
// thing each receives, no event (presence, receipt) came before it on
// the WebSocket, nothing follows it for longer than a presence window,
// and bob's system conversation still holds his own request only.
func TestBlockTellsTheBlockedNothing(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	ctx := ctxT(t)
	bobWS := s.dial("bob", "phone")
	bobMQTT := s.mqttConnect("bob", "bob-mqtt", true)
	bobMQTT.subscribe("IMS/bob/Inbox/#", 1)
	alice, bob, carol := s.login("alice", "web"), s.login("bob", "web"), s.login("carol", "web")

	// marker sends carol's message to bob and returns what each of bob's
	// devices received up to it (WebSocket messages, WebSocket events,
	// MQTT deliveries), the marker excluded.
	marker := 0
	untilMarker := func() (msgs []protocol.Message, evs []parley.Event, mqtt []mqttMsg) {
		t.Helper()
		marker++
		body := fmt.Sprint("marker ", marker)
		if _, err := carol.Send(ctx, "", parley.SendOptions{To: "bob", Body: body}); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for done := false; !done; {
			select {
			case m := <-bobWS.Messages():
				if m.From == "carol" && m.Body == body {
					done = true
				} else {
					msgs = append(msgs, m)
				}
			case <-deadline:
				t.Fatalf("bob's WebSocket: no %q within 10s", body)
			}
		}
		// Events read from the connection before the marker are in the
		// channel by now: the client hands frames over in order.
		for more := true; more; {
			select {
			case e := <-bobWS.Events():
				evs = append(evs, e)
			default:
				more = false
			}
		}
		for done := false; !done; {
			d := bobMQTT.recv(1, 10*time.Second)[0]
			if strings.HasPrefix(d.Topic, "IMS/bob/Inbox/Msg/d_") && d.message(t).Body == body {
				done = true
			} else {
				mqtt = append(mqtt, d)
			}
		}
		return msgs, evs, mqtt
	}

	// Before the block: a shared group (bob sees alice's presence) and
	// bob's request to alice; each reaches bob's devices.
	if _, err := alice.CreateGroup(ctx, "pals", "bob"); err != nil {
		t.Fatal(err)
	}
	aliceWS := s.dial("alice", "phone")
	wsOnline, mqttOnline := false, false
	waitFor(t, "bob's devices to see alice online", 10*time.Second, func() bool {
		_, evs, mqtt := untilMarker()
		for _, e := range evs {
			wsOnline = wsOnline || e.Type == protocol.TypePresence && e.Presence.User == "alice" && e.Presence.Online
		}
		for _, d := range mqtt {
			var p protocol.Presence
			mqttOnline = mqttOnline || d.Topic == "IMS/bob/Inbox/Presence/alice" && json.Unmarshal(d.Payload, &p) == nil && p.Online
		}
		return wsOnline && mqttOnline
	})
	if _, err := bob.RequestFriend(ctx, "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	msgs, _, _ := untilMarker()
	if len(msgs) != 1 || msgs[0].Kind != protocol.KindFriend || msgs[0].Social == nil || msgs[0].Social.Action != protocol.FriendRequested {
		t.Fatalf("bob's WebSocket got %+v before the marker, want his own request", msgs)
	}
	sysConv, requestSeq := msgs[0].Conv, msgs[0].Seq
	if l, err := alice.FriendRequests(ctx, true, "", 0); err != nil || len(l.Requests) != 1 || l.Requests[0].From != "bob" {
		t.Fatalf("alice's incoming requests before the block: %+v, %v", l, err)
	}
	dropped := bobWS.DroppedEvents()

	if err := aliceWS.Block(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if l, err := alice.FriendRequests(ctx, true, "", 0); err != nil || len(l.Requests) != 0 {
		t.Fatalf("alice's incoming requests after the block: %+v, %v; want bob's dropped", l, err)
	}

	// Nothing before carol's marker, on either device...
	msgs, evs, mqtt := untilMarker()
	if len(msgs) != 0 || len(evs) != 0 || len(mqtt) != 0 || bobWS.DroppedEvents() != dropped {
		var got []string
		for _, d := range mqtt {
			got = append(got, d.Topic+" "+string(d.Payload))
		}
		t.Fatalf("bob was told of the block: WebSocket messages %+v, events %+v (dropped %d more), MQTT %q",
			msgs, evs, bobWS.DroppedEvents()-dropped, got)
	}
	// ...nor after it, for longer than presence takes to coalesce.
	noMessage(t, bobWS, 300*time.Millisecond)
	select {
	case e := <-bobWS.Events():
		t.Fatalf("bob's WebSocket got an event after the block: %+v", e)
	default:
	}
	bobMQTT.none(100 * time.Millisecond)
	// No entry was stored for him either.
	p, err := bob.History(ctx, sysConv, parley.HistoryOptions{})
	if err != nil || len(p.Messages) == 0 || p.Messages[len(p.Messages)-1].Seq != requestSeq {
		t.Fatalf("bob's system conversation after the block: %+v, %v; want his request (seq %d) last", p, err, requestSeq)
	}
}

// nextPaho5Moment returns the next delivery on a moment topic (IMS/<user>,
// two levels) of pc and its moment; other deliveries are skipped.
func nextPaho5Moment(t *testing.T, pc *paho5Client) (string, protocol.Moment) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-pc.ch:
			if strings.Count(p.Topic, "/") != 1 {
				t.Logf("skipping the delivery on %s", p.Topic)
				continue
			}
			var m protocol.Moment
			if err := json.Unmarshal(p.Payload, &m); err != nil {
				t.Fatalf("delivery on %s is not a moment: %v: %s", p.Topic, err, p.Payload)
			}
			return p.Topic, m
		case <-deadline:
			t.Fatal("no moment delivery within 10s")
		}
	}
}

// paho5Suback subscribes pc to filter at QoS 1 and returns the SUBACK's
// reason code.
func paho5Suback(t *testing.T, pc *paho5Client, filter string) byte {
	t.Helper()
	sa, err := pc.c.Subscribe(ctxT(t), &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: filter, QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 1 {
		t.Fatalf("subscribe to %s: SUBACK %+v, %v", filter, sa, err)
	}
	return sa.Reasons[0]
}

// TestBlockEndsFollowAndMomentsAtOnce (issue 12 point 3): bob follows
// alice and holds an MQTT 5 subscription to IMS/alice; once alice blocks
// him, without a reconnect, her next moment does not reach that
// subscription (carol's marker moment, posted after it, is the next
// moment bob gets), a new subscription to IMS/alice is refused, his friend
// request over MQTT is refused exactly like one to nobody, and over HTTP
// her presence is left out and her moments answer exactly like nobody's.
// After the unblock bob (whose follow the block removed) may follow her
// again, and her next moment reaches his new subscription.
func TestBlockEndsFollowAndMomentsAtOnce(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		s.user(u)
	}
	ctx := ctxT(t)
	alice, bob, carol := s.login("alice", "web"), s.login("bob", "web"), s.login("carol", "web")
	// A shared group makes alice a contact whose presence bob may see.
	if _, err := alice.CreateGroup(ctx, "pals", "bob"); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "carol"} {
		if err := bob.Follow(ctx, u); err != nil {
			t.Fatalf("bob follows %s: %v", u, err)
		}
	}
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bob5 := connectPaho5(t, conn, "bob", "bob-paho5")
	for _, f := range []string{"IMS/alice", "IMS/carol"} {
		if code := paho5Suback(t, bob5, f); code != 1 {
			t.Fatalf("bob's SUBACK for %s: 0x%02x, want 1 (granted QoS 1)", f, code)
		}
	}
	marker := 0
	// mark posts a moment of carol and fails unless it is bob's next.
	mark := func(what string) {
		t.Helper()
		marker++
		text := fmt.Sprint("marker ", marker)
		if _, err := carol.PostMoment(ctx, protocol.MomentPost{Text: text}); err != nil {
			t.Fatal(err)
		}
		if topic, m := nextPaho5Moment(t, bob5); topic != "IMS/carol" || m.Text != text {
			t.Fatalf("bob got %q on %s %s, want carol's %q", m.Text, topic, what, text)
		}
	}
	post := func(text string) protocol.Moment {
		t.Helper()
		m, err := alice.PostMoment(ctx, protocol.MomentPost{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	httpAnswer := func(method, path string, body any) string {
		t.Helper()
		status, b := httpDo(t, method, s.URL+path, bob.Token, body)
		return fmt.Sprint(status, " ", string(bytes.TrimSpace(b)))
	}
	presence := func() []protocol.Presence {
		t.Helper()
		status, b := httpDo(t, "GET", s.URL+"/v1/presence?users=alice", bob.Token, nil)
		var r struct {
			Presence []protocol.Presence `json:"presence"`
		}
		if status != 200 || json.Unmarshal(b, &r) != nil {
			t.Fatalf("bob's presence query: %d %s", status, b)
		}
		return r.Presence
	}

	// Before the block: bob gets alice's moment live, reads her moments
	// and sees her presence.
	first := post("before the block")
	if topic, m := nextPaho5Moment(t, bob5); topic != "IMS/alice" || m.ID != first.ID {
		t.Fatalf("bob got %+v on %s, want alice's moment %d on IMS/alice", m, topic, first.ID)
	}
	mark("before the block")
	if got := httpAnswer("GET", "/v1/users/alice/moments", nil); !strings.HasPrefix(got, "200 ") || !strings.Contains(got, "before the block") {
		t.Fatalf("bob reads alice's moments before the block: %s", got)
	}
	if p := presence(); len(p) != 1 || p[0].User != "alice" {
		t.Fatalf("bob's presence query for alice before the block: %+v, want alice's entry", p)
	}

	if err := alice.Block(ctx, "bob"); err != nil {
		t.Fatal(err)
	}

	// (1) Her next moment does not reach the subscription bob holds.
	post("after the block")
	mark("after alice's post after the block")
	// (2) A new subscription is refused.
	if code := paho5Suback(t, bob5, "IMS/alice"); code != 0x87 {
		t.Fatalf("bob's SUBACK for IMS/alice after the block: 0x%02x, want 0x87", code)
	}
	// (3) A friend request over MQTT: refused as to nobody.
	sameRefusal(t, "MQTT 5 friend request to alice", paho5Refusal(t, bob5, "IMS/alice/Inbox/Add/GFReq/bob", "hi"),
		paho5Refusal(t, bob5, "IMS/nobody/Inbox/Add/GFReq/bob", "hi"))
	// (4) HTTP: no presence, and her moments answer as nobody's.
	if p := presence(); len(p) != 0 {
		t.Fatalf("bob's presence query for alice after the block: %+v, want none", p)
	}
	sameRefusal(t, "HTTP read of alice's moments", httpAnswer("GET", "/v1/users/alice/moments", nil),
		httpAnswer("GET", "/v1/users/nobody/moments", nil))
	// The block removed bob's follow.
	if l, err := bob.Following(ctx, "", 0); err != nil || len(l.Follows) != 1 || l.Follows[0].User != "carol" {
		t.Fatalf("bob follows %+v, %v after the block; want carol only", l, err)
	}
	// Nothing of alice reached bob's subscription meanwhile.
	post("still blocked")
	mark("after alice's second post after the block")

	// Unblocking: bob may follow again and gets her next moment.
	if err := alice.Unblock(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Follow(ctx, "alice"); err != nil {
		t.Fatalf("bob follows alice after the unblock: %v", err)
	}
	if code := paho5Suback(t, bob5, "IMS/alice"); code != 1 {
		t.Fatalf("bob's SUBACK for IMS/alice after re-following: 0x%02x, want 1", code)
	}
	again := post("after the unblock")
	if topic, m := nextPaho5Moment(t, bob5); topic != "IMS/alice" || m.ID != again.ID {
		t.Fatalf("bob got %q on %s after re-following, want alice's %q", m.Text, topic, again.Text)
	}
	mark("after the unblock")
}
