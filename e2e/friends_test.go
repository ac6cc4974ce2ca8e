package e2e

// Friend requests (SCENARIOS.md S1, seed 001 scene 1) and who may message
// whom, through the real server, over WebSocket, HTTP and MQTT and across
// them: a request reaches an offline user's MQTT client on
// IMS/<B>/Inbox/Add/GFReq/<A> when it connects, the answer published with
// mosquitto_pub on IMS/<A>/Inbox/Add/GFResp/<B> reaches every WebSocket
// device of the requester, and both contact lists show it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// nextFriend returns the next friend entry c receives, skipping other
// messages.
func nextFriend(t *testing.T, c *parley.Client) protocol.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-c.Messages():
			if !ok {
				t.Fatal("messages channel closed waiting for a friend entry")
			}
			if m.Kind == protocol.KindFriend {
				return m
			}
		case <-deadline:
			t.Fatal("no friend entry within 10s")
		}
	}
}

// checkFriend fails unless m is a friend entry by from with the action,
// naming user (and the text).
func checkFriend(t *testing.T, m protocol.Message, from, action, user, text string) {
	t.Helper()
	want := protocol.SocialEvent{Action: action, User: user, Text: text}
	if m.Kind != protocol.KindFriend || m.From != from || m.Social == nil || *m.Social != want || !strings.HasPrefix(m.Conv, "s_") {
		t.Fatalf("entry %+v (social %+v), want %q by %s about %s", m, m.Social, action, from, user)
	}
}

// mqttHostPort is the server's MQTT address for the command-line tools.
func mqttHostPort(t *testing.T, s *server) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(s.app.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

// TestFriendRequestAcrossProtocols is S1: alice asks bob over WebSocket
// while bob is offline; bob's MQTT client (mosquitto_sub, a persistent
// session) connects and receives the request on
// IMS/bob/Inbox/Add/GFReq/alice; bob accepts with mosquitto_pub on
// IMS/alice/Inbox/Add/GFResp/bob; both of alice's WebSocket devices get
// the answer; both contact lists show the other over HTTP; then they chat.
func TestFriendRequestAcrossProtocols(t *testing.T) {
	t.Parallel()
	sub := needTool(t, "mosquitto_sub", "the Debian package mosquitto-clients")
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	phone, laptop := s.dial("alice", "phone"), s.dial("alice", "laptop")

	st, err := phone.RequestFriend(ctx, "bob", "Hi Bob, it's Alice from the climbing club")
	if err != nil || st != (protocol.FriendStatus{User: "bob", Status: protocol.FriendPending}) {
		t.Fatalf("request = %+v, %v", st, err)
	}
	for _, c := range []*parley.Client{phone, laptop} {
		checkFriend(t, nextFriend(t, c), "alice", protocol.FriendRequested, "bob", "Hi Bob, it's Alice from the climbing club")
	}

	// bob connects for the first time, over MQTT 3.1.1, a persistent session.
	host, port := mqttHostPort(t, s)
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(sctx, sub, "-h", host, "-p", port, "-V", "mqttv311", "-i", "GID_IMS@@@bob-phone", "-c",
		"-u", "bob", "-P", "password-bob", "-q", "1", "-t", "IMS/bob/Inbox/#", "-v", "-C", "1", "-W", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_sub: %v:\n%s", err, out)
	}
	topic, payload, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if topic != "IMS/bob/Inbox/Add/GFReq/alice" {
		t.Fatalf("bob's first delivery on %q, want IMS/bob/Inbox/Add/GFReq/alice:\n%s", topic, out)
	}
	var req protocol.Message
	if err := json.Unmarshal([]byte(payload), &req); err != nil {
		t.Fatalf("delivery payload %q: %v", payload, err)
	}
	checkFriend(t, req, "alice", protocol.FriendRequest, "alice", "Hi Bob, it's Alice from the climbing club")
	if req.Seq != 1 {
		t.Fatalf("bob's request entry has seq %d, want 1", req.Seq)
	}

	// bob accepts over MQTT 5; the PUBACK says it is stored.
	pout, err := exec.CommandContext(sctx, pub, "-h", host, "-p", port, "-V", "mqttv5", "-i", "bob-cli", "-u", "bob", "-P", "password-bob",
		"-q", "1", "-d", "-t", "IMS/alice/Inbox/Add/GFResp/bob", "-m", `{"accept":true}`).CombinedOutput()
	if err != nil || !strings.Contains(string(pout), "received PUBACK (Mid: 1, RC:0)") {
		t.Fatalf("mosquitto_pub of the answer: %v:\n%s", err, pout)
	}
	for _, c := range []*parley.Client{phone, laptop} {
		checkFriend(t, nextFriend(t, c), "bob", protocol.FriendAccepted, "bob", "")
	}

	// Both contact lists, over HTTP.
	for _, u := range [][2]string{{"alice", "bob"}, {"bob", "alice"}} {
		l, err := s.login(u[0], "web").Friends(ctx, "", 0)
		if err != nil || len(l.Friends) != 1 || l.Friends[0].User != u[1] || l.Friends[0].Since == 0 {
			t.Fatalf("%s's friends: %+v, %v", u[0], l, err)
		}
	}
	if l, err := s.login("bob", "web").FriendRequests(ctx, true, "", 0); err != nil || len(l.Requests) != 0 {
		t.Fatalf("bob's pending requests after accepting: %+v, %v", l, err)
	}

	// bob's phone comes back (Paho, the same persistent session): it gets
	// its own answer, on the system conversation's inbox topic, then alice's
	// message on the direct conversation's; the request it acknowledged is
	// not sent again.
	bobPhone := s.mqttConnect("bob", "GID_IMS@@@bob-phone", false)
	if !bobPhone.present {
		t.Fatal("bob-phone's session was not kept")
	}
	own := bobPhone.recv(1, 10*time.Second)[0]
	if m := own.message(t); own.Topic != "IMS/bob/Inbox/Msg/"+req.Conv || m.Seq != 2 {
		t.Fatalf("bob-phone got %s %s, want his own accepted entry (seq 2) on IMS/bob/Inbox/Msg/%s", own.Topic, own.Payload, req.Conv)
	} else {
		checkFriend(t, m, "bob", protocol.FriendAccepted, "alice", "")
	}
	ack, err := phone.Send(ctx, parley.SendOptions{To: "bob", Body: "Climbing on Saturday?"})
	if err != nil {
		t.Fatal(err)
	}
	got := bobPhone.recv(1, 10*time.Second)[0]
	if m := got.message(t); got.Topic != "IMS/bob/Inbox/Msg/"+ack.Conv || m.ID != ack.ID || m.Body != "Climbing on Saturday?" {
		t.Fatalf("bob-phone got %s %s, want alice's message", got.Topic, got.Payload)
	}
}

// TestFriendAnswerOverMQTTReachesRequester: carol asks dave over MQTT 5
// (GFReq, PUBACK once stored) and gets dave's answer, given over
// WebSocket, on IMS/carol/Inbox/Add/GFResp/dave; a decline arrives there
// too, and a request on GFReq naming someone else as the sender is
// refused with 0x87 and stores nothing.
func TestFriendAnswerOverMQTTReachesRequester(t *testing.T) {
	t.Parallel()
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	s := startServer(t, nil)
	for _, u := range []string{"alice", "carol", "dave", "erin"} {
		s.user(u)
	}
	ctx := ctxT(t)
	dave := s.dial("dave", "phone")
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	carol := connectPaho5(t, conn, "carol", "carol-paho5")

	carol.publish(t, &paho5.Publish{Topic: "IMS/dave/Inbox/Add/GFReq/carol", QoS: 1, Payload: []byte(`{"text":"Hi Dave"}`)})
	checkFriend(t, nextFriend(t, dave), "carol", protocol.FriendRequest, "carol", "Hi Dave")
	requested := carol.next(t, 10*time.Second)
	if !strings.HasPrefix(requested.Topic, "IMS/carol/Inbox/Msg/s_") {
		t.Fatalf("carol's own request entry on %s, want her system conversation's inbox topic", requested.Topic)
	}
	if st, err := dave.AnswerFriend(ctx, "carol", true); err != nil || st.Status != protocol.FriendFriends {
		t.Fatalf("dave accepts: %+v, %v", st, err)
	}
	answer := carol.next(t, 10*time.Second)
	var m protocol.Message
	if err := json.Unmarshal(answer.Payload, &m); err != nil || answer.Topic != "IMS/carol/Inbox/Add/GFResp/dave" {
		t.Fatalf("carol got %s %s, want dave's answer on IMS/carol/Inbox/Add/GFResp/dave", answer.Topic, answer.Payload)
	}
	checkFriend(t, m, "dave", protocol.FriendAccepted, "dave", "")
	if p := paho5Props(answer); p["kind"] != protocol.KindFriend || p["from"] != "dave" || p["conv"] != m.Conv {
		t.Fatalf("user properties of the answer: %v", p)
	}

	// A plain-text request from carol to erin, declined over HTTP.
	carol.publish(t, &paho5.Publish{Topic: "IMS/erin/Inbox/Add/GFReq/carol", QoS: 1, Payload: []byte("Hi Erin")})
	carol.next(t, 10*time.Second) // her own "requested"
	if _, err := s.login("erin", "web").AnswerFriend(ctx, "carol", false); err != nil {
		t.Fatal(err)
	}
	answer = carol.next(t, 10*time.Second)
	if err := json.Unmarshal(answer.Payload, &m); err != nil || answer.Topic != "IMS/carol/Inbox/Add/GFResp/erin" {
		t.Fatalf("carol got %s %s, want erin's answer", answer.Topic, answer.Payload)
	}
	checkFriend(t, m, "erin", protocol.FriendDeclined, "erin", "")

	// Publishing as someone else: refused, nothing stored, over Paho and
	// mosquitto_pub alike.
	if got := paho5Refusal(t, carol, "IMS/erin/Inbox/Add/GFReq/alice", "from alice, honest"); !strings.HasPrefix(got, `{"code":135,`) {
		t.Fatalf("request naming alice as the sender: %s, want 0x87", got)
	}
	if got := paho5Refusal(t, carol, "IMS/alice/Inbox/Add/GFResp/erin", `{"accept":true}`); !strings.HasPrefix(got, `{"code":135,`) {
		t.Fatalf("answer naming erin as the answerer: %s, want 0x87", got)
	}
	host, port := mqttHostPort(t, s)
	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(pctx, pub, "-h", host, "-p", port, "-V", "mqttv5", "-i", "carol-cli", "-u", "carol", "-P", "password-carol",
		"-q", "1", "-d", "-t", "IMS/erin/Inbox/Add/GFReq/alice", "-m", "hi").CombinedOutput()
	if !regexp.MustCompile(`received PUBACK \(Mid: 1, RC:135\)`).Match(out) {
		t.Fatalf("mosquitto_pub naming alice as the sender:\n%s", out)
	}
	for _, u := range []string{"alice", "erin"} {
		if l, err := s.login(u, "web").FriendRequests(ctx, u == "erin", "", 0); err != nil || len(l.Requests) != 0 {
			t.Fatalf("%s's requests after the refused publishes: %+v, %v", u, l, err)
		}
	}
	// An answer to a request that does not exist: 0x87 (404).
	if got := paho5Refusal(t, carol, "IMS/alice/Inbox/Add/GFResp/carol", `{"accept":true}`); got != `{"code":135,"reason":""}` {
		t.Fatalf("answer without a request: %s, want 0x87", got)
	}
}

// TestFriendTopicAsAnotherOverMQTT311: over MQTT 3.1.1, which has no
// negative PUBACK, a QoS 1 publish on a GFReq or GFResp topic whose last
// level names someone other than the publisher is a topic outside
// mqtt.md 5.1: the connection is closed without a PUBACK or any other
// packet (section 11, "closed"; no Error notice), and nothing is stored.
// At QoS 0 the publish is dropped and the connection stays up.
func TestFriendTopicAsAnotherOverMQTT311(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "carol", "erin"} {
		s.user(u)
	}
	ctx := ctxT(t)
	// erin asks carol, so that a GFResp naming erin could answer something.
	if _, err := s.login("erin", "web").RequestFriend(ctx, "carol", ""); err != nil {
		t.Fatal(err)
	}
	for i, topic := range []string{"IMS/erin/Inbox/Add/GFReq/alice", "IMS/erin/Inbox/Add/GFResp/alice"} {
		lost := make(chan error, 1)
		o := s.mqtt3Options("carol", fmt.Sprint("carol-311-", i), true)
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		carol := s.mqttConnectWith(o)
		carol.subscribe("IMS/carol/Inbox/#", 1)

		// QoS 0: dropped; the connection stays, as carol's own request
		// to alice, acknowledged after it, shows.
		if tok := carol.c.Publish(topic, 0, false, `{"accept":true}`); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("QoS 0 publish to %s: %v", topic, tok.Error())
		}
		if i == 0 {
			carol.publish("IMS/alice/Inbox/Add/GFReq/carol", 1, "from carol herself")
			// Her next delivery is that request: the QoS 0 publish made
			// none.
			d := carol.recv(1, 10*time.Second)[0]
			if m := d.message(t); !strings.HasPrefix(d.Topic, "IMS/carol/Inbox/Msg/s_") || m.Social == nil || m.Social.User != "alice" {
				t.Fatalf("carol got %s %s, want her own request to alice on her system conversation's topic", d.Topic, d.Payload)
			}
		}
		select {
		case err := <-lost:
			t.Fatalf("the QoS 0 publish to %s closed the connection: %v", topic, err)
		default:
		}

		// QoS 1: closed, no PUBACK, no Error notice.
		tok := carol.c.Publish(topic, 1, false, `{"accept":true}`)
		select {
		case <-lost:
		case <-time.After(10 * time.Second):
			t.Fatalf("QoS 1 publish to %s: the connection is still open", topic)
		}
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			t.Fatalf("QoS 1 publish to %s was acknowledged", topic)
		}
		select {
		case d := <-carol.ch:
			t.Fatalf("carol got %s %s before the close, want nothing", d.Topic, d.Payload)
		default:
		}
	}
	// Nothing was stored: alice asked nobody, erin's request to carol is
	// still pending, carol's own request to alice is the only other one.
	if l, err := s.login("alice", "web").FriendRequests(ctx, false, "", 0); err != nil || len(l.Requests) != 0 {
		t.Fatalf("alice's outgoing requests: %+v, %v; want none", l, err)
	}
	if l, err := s.login("erin", "web").FriendRequests(ctx, true, "", 0); err != nil || len(l.Requests) != 0 {
		t.Fatalf("erin's incoming requests: %+v, %v; want none", l, err)
	}
	if l, err := s.login("carol", "web").FriendRequests(ctx, true, "", 0); err != nil || len(l.Requests) != 1 || l.Requests[0].From != "erin" {
		t.Fatalf("carol's incoming requests: %+v, %v; want erin's, still pending", l, err)
	}
	if l, err := s.login("carol", "web").Friends(ctx, "", 0); err != nil || len(l.Friends) != 0 {
		t.Fatalf("carol's friends: %+v, %v; want none", l, err)
	}
}

// next returns the next delivery of any inbox topic but the transient
// ones.
func (pc *paho5Client) next(t *testing.T, timeout time.Duration) *paho5.Publish {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case p := <-pc.ch:
			if strings.Contains(p.Topic, "/Inbox/Msg/") || strings.Contains(p.Topic, "/Inbox/Add/") {
				return p
			}
		case <-deadline:
			t.Fatalf("paho5: no delivery within %v", timeout)
			return nil
		}
	}
}

// TestFriendRequestRepeatAndLimit: a repeated request, over another
// protocol, stores nothing; the hourly limit refuses over WebSocket, HTTP
// and MQTT with the rate-limit shape.
func TestFriendRequestRepeatAndLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.RateLimits.FriendRequestsPerUserPerHour = 3 })
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.user(u)
	}
	ctx := ctxT(t)
	aliceWS, aliceAPI, bobAPI := s.dial("alice", "phone"), s.login("alice", "web"), s.login("bob", "web")
	if _, err := aliceWS.RequestFriend(ctx, "bob", "first"); err != nil {
		t.Fatal(err)
	}
	if st, err := aliceAPI.RequestFriend(ctx, "bob", "again"); err != nil || st.Status != protocol.FriendPending {
		t.Fatalf("repeat over HTTP: %+v, %v", st, err)
	}
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	alice5 := connectPaho5(t, conn, "alice", "alice-paho5")
	alice5.publish(t, &paho5.Publish{Topic: "IMS/bob/Inbox/Add/GFReq/alice", QoS: 1, Payload: []byte("and again")})
	// bob's system conversation holds the one request, with the first text.
	l, err := bobAPI.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sys protocol.Conversation
	for _, c := range l.Conversations {
		if c.Kind == protocol.ConvSystem {
			sys = c
		}
	}
	if sys.ID == "" || sys.LastSeq != 1 || sys.Unread != 0 {
		t.Fatalf("bob's system conversation %+v in %+v, want one entry, not unread", sys, l)
	}
	p, err := bobAPI.History(ctx, sys.ID, parley.HistoryOptions{})
	if err != nil || len(p.Messages) != 1 {
		t.Fatalf("bob's system conversation: %+v, %v", p, err)
	}
	checkFriend(t, p.Messages[0], "alice", protocol.FriendRequest, "alice", "first")

	// Three requests spent: the fourth is refused everywhere.
	_, err = aliceWS.RequestFriend(ctx, "carol", "")
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != 429 || pe.Reason != "rate_limited" || pe.RetryAfterMS <= 0 {
		t.Fatalf("WebSocket request over the limit: %v", err)
	}
	status, body := httpDo(t, "POST", s.URL+"/v1/friends/requests", aliceAPI.Token, map[string]string{"user": "dave"})
	var eb struct{ Error protocol.Error }
	if json.Unmarshal(body, &eb) != nil || status != 429 || eb.Error.Reason != "rate_limited" || eb.Error.RetryAfterMS <= 0 {
		t.Fatalf("HTTP request over the limit: %d %s", status, body)
	}
	if got := paho5Refusal(t, alice5, "IMS/carol/Inbox/Add/GFReq/alice", ""); !strings.HasPrefix(got, `{"code":151,`) {
		t.Fatalf("MQTT request over the limit: %s, want 0x97", got)
	}
	if l, err := s.login("carol", "web").FriendRequests(ctx, true, "", 0); err != nil || len(l.Requests) != 0 {
		t.Fatalf("carol's requests: %+v, %v", l, err)
	}
	if v := metricValue(t, s, `parley_rate_limited_total{limit="friend_requests"}`); v != 3 {
		t.Fatalf("friend request refusals counted %v, want 3", v)
	}
}

// TestInboundFriendsOnlyAcrossProtocols: bob accepts direct messages from
// friends and group co-members only. A stranger's are refused over
// WebSocket, HTTP and MQTT with 403 not_accepted (MQTT 5: PUBACK 0x87 with
// the reason); a friend's and a co-member's go through; bob's own choice
// can be read and changed back.
func TestInboundFriendsOnlyAcrossProtocols(t *testing.T) {
	t.Parallel()
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.user(u)
	}
	ctx := ctxT(t)
	bobWS, bobAPI := s.dial("bob", "phone"), s.login("bob", "web")
	friendsOnly := protocol.InboundFriends
	if st, err := bobAPI.UpdateSettings(ctx, parley.SettingsUpdate{Inbound: &friendsOnly}); err != nil || st.Inbound != protocol.InboundFriends {
		t.Fatalf("settings %+v, %v", st, err)
	}
	if st, err := bobWS.Settings(ctx); err != nil || st != (protocol.Settings{Inbound: protocol.InboundFriends, GroupAdd: protocol.GroupAddAnyone}) {
		t.Fatalf("settings over WebSocket %+v, %v", st, err)
	}

	// alice, a stranger.
	aliceWS, aliceAPI := s.dial("alice", "phone"), s.login("alice", "web")
	if pe := wsSendErr(t, aliceWS, parley.SendOptions{To: "bob", Body: "hi"}); pe.Code != 403 || pe.Reason != "not_accepted" || pe.Message == "" {
		t.Fatalf("WebSocket send of a stranger: %+v, want 403 not_accepted", pe)
	}
	status, body := httpDo(t, "POST", s.URL+"/v1/users/bob/messages", aliceAPI.Token, map[string]string{"client_msg_id": parley.NewClientMsgID(), "body": "hi"})
	if status != http.StatusForbidden || !strings.Contains(string(body), `"reason":"not_accepted"`) {
		t.Fatalf("HTTP send of a stranger: %d %s", status, body)
	}
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	alice5 := connectPaho5(t, conn, "alice", "alice-paho5")
	if got := paho5Refusal(t, alice5, "IMS/p2p/bob", "hi"); !strings.HasPrefix(got, `{"code":135,"reason":"this user accepts direct messages only from friends`) {
		t.Fatalf("MQTT 5 send of a stranger: %s", got)
	}
	host, port := mqttHostPort(t, s)
	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(pctx, pub, "-h", host, "-p", port, "-V", "mqttv5", "-i", "alice-cli", "-u", "alice", "-P", "password-alice",
		"-q", "1", "-d", "-t", "IMS/p2p/bob", "-m", "hi").CombinedOutput()
	if !regexp.MustCompile(`received PUBACK \(Mid: 1, RC:135\)`).Match(out) {
		t.Fatalf("mosquitto_pub of a stranger:\n%s", out)
	}
	if l, err := bobAPI.Conversations(ctx); err != nil || len(l.Conversations) != 0 {
		t.Fatalf("bob's conversations after the refused sends: %+v, %v", l, err)
	}

	// carol, a friend: over WebSocket and MQTT.
	carolWS := s.dial("carol", "phone")
	if _, err := carolWS.RequestFriend(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := bobAPI.AnswerFriend(ctx, "carol", true); err != nil {
		t.Fatal(err)
	}
	if _, err := carolWS.Send(ctx, parley.SendOptions{To: "bob", Body: "from a friend"}); err != nil {
		t.Fatalf("a friend's send: %v", err)
	}
	carol3 := s.mqttConnect("carol", "carol-paho", true)
	carol3.publish("IMS/p2p/bob", 1, "from a friend, over MQTT")

	// dave, in a group with bob: over HTTP.
	if _, err := s.login("dave", "web").CreateGroup(ctx, "Saturday hike", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.login("dave", "web").Send(ctx, "", parley.SendOptions{To: "bob", Body: "from a co-member"}); err != nil {
		t.Fatalf("a group co-member's send: %v", err)
	}
	var bodies []string
	deadline := time.After(10 * time.Second)
	for len(bodies) < 3 {
		select {
		case m := <-bobWS.Messages():
			if m.Kind == protocol.KindMessage {
				bodies = append(bodies, m.From+": "+m.Body)
			}
		case <-deadline:
			t.Fatalf("bob received %q within 10s, want three messages", bodies)
		}
	}
	if want := "carol: from a friend|carol: from a friend, over MQTT|dave: from a co-member"; strings.Join(bodies, "|") != want {
		t.Fatalf("bob received %q, want %q", strings.Join(bodies, "|"), want)
	}

	// Back to anyone: alice gets through.
	anyone := protocol.InboundAnyone
	if _, err := bobWS.UpdateSettings(ctx, parley.SettingsUpdate{Inbound: &anyone}); err != nil {
		t.Fatal(err)
	}
	if _, err := aliceWS.Send(ctx, parley.SendOptions{To: "bob", Body: "hi again"}); err != nil {
		t.Fatalf("a stranger's send to bob, who accepts anyone again: %v", err)
	}
}

// TestFriendEntriesResume: entries written while a device is away arrive
// when it resumes, after exactly what it acknowledged: no gap, no
// duplicate, in seq order.
func TestFriendEntriesResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		s.user(u)
	}
	ctx := ctxT(t)
	alice, carol, dave := s.login("alice", "web"), s.login("carol", "web"), s.login("dave", "web")
	bobAPI := s.login("bob", "web")
	bob := s.dial("bob", "phone")
	if _, err := alice.RequestFriend(ctx, "bob", "hi"); err != nil {
		t.Fatal(err)
	}
	first := nextFriend(t, bob)
	checkFriend(t, first, "alice", protocol.FriendRequest, "alice", "hi")
	// Wait until the phone's acknowledgement is stored (the SDK acks by
	// itself; the server writes acks in batches).
	waitFor(t, "bob-phone's ack of seq 1", 10*time.Second, func() bool {
		ms, err := bobAPI.Members(ctx, first.Conv)
		return err == nil && len(ms) == 1 && ms[0].DeliveredSeq == 1
	})
	bob.Close()

	// Away: five more entries, from three users and bob's other device.
	steps := []func() error{
		func() error { _, err := carol.RequestFriend(ctx, "bob", "hello"); return err },
		func() error { return carol.WithdrawFriend(ctx, "bob") },
		func() error { _, err := bobAPI.AnswerFriend(ctx, "alice", true); return err },
		func() error { _, err := dave.RequestFriend(ctx, "bob", ""); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	bob = s.dial("bob", "phone")
	got := make([]string, 0, 4)
	for _, m := range recv(t, bob, 4, 10*time.Second) {
		if m.Conv != first.Conv {
			t.Fatalf("unexpected message %+v", m)
		}
		got = append(got, fmt.Sprintf("%d %s %s %s", m.Seq, m.From, m.Social.Action, m.Social.User))
	}
	want := "2 carol request carol|3 carol withdrawn carol|4 bob accepted alice|5 dave request dave"
	if strings.Join(got, "|") != want {
		t.Fatalf("resumed entries %q, want %q", strings.Join(got, "|"), want)
	}
	noMessage(t, bob, 300*time.Millisecond)
	if l, err := bobAPI.FriendRequests(ctx, true, "", 0); err != nil || len(l.Requests) != 1 || l.Requests[0].From != "dave" {
		t.Fatalf("bob's pending requests: %+v, %v", l, err)
	}
}

// TestFriendListsWithdrawUnfriendOverWebSocket: over the SDK's WebSocket
// client, both directions of the pending list name the right users; a
// withdrawal, an acceptance and an unfriending each reach both users as
// entries, and the contact lists follow. Then the same two over MQTT 3.1.1
// with mosquitto_pub: a request on IMS/<B>/Inbox/Add/GFReq/<A>, and a
// decline on IMS/<A>/Inbox/Add/GFResp/<B> that reaches the requester.
func TestFriendListsWithdrawUnfriendOverWebSocket(t *testing.T) {
	t.Parallel()
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	alice, bob := s.dial("alice", "phone"), s.dial("bob", "phone")

	pending := func(c *parley.Client, who string, incoming bool, want ...protocol.PendingFriend) {
		t.Helper()
		l, err := c.FriendRequests(ctx, incoming, "", 0)
		if err != nil || len(l.Requests) != len(want) {
			t.Fatalf("%s's requests (incoming %v): %+v, %v; want %+v", who, incoming, l, err, want)
		}
		for i, w := range want {
			if g := l.Requests[i]; g.From != w.From || g.To != w.To || g.Text != w.Text || g.Time == 0 {
				t.Fatalf("%s's requests (incoming %v): %+v, want %+v", who, incoming, l, want)
			}
		}
	}
	friends := func(c *parley.Client, who string, want ...string) {
		t.Helper()
		l, err := c.Friends(ctx, "", 0)
		if err != nil || len(l.Friends) != len(want) {
			t.Fatalf("%s's friends: %+v, %v; want %q", who, l, err, want)
		}
		for i, w := range want {
			if l.Friends[i].User != w || l.Friends[i].Since == 0 {
				t.Fatalf("%s's friends: %+v, want %q", who, l, want)
			}
		}
	}

	// A request, seen from both sides.
	if st, err := alice.RequestFriend(ctx, "bob", "hi bob"); err != nil || st.Status != protocol.FriendPending {
		t.Fatalf("request = %+v, %v", st, err)
	}
	checkFriend(t, nextFriend(t, alice), "alice", protocol.FriendRequested, "bob", "hi bob")
	checkFriend(t, nextFriend(t, bob), "alice", protocol.FriendRequest, "alice", "hi bob")
	req := protocol.PendingFriend{From: "alice", To: "bob", Text: "hi bob"}
	pending(alice, "alice", false, req)
	pending(bob, "bob", true, req)
	pending(alice, "alice", true)
	pending(bob, "bob", false)

	// Withdrawn: bob's device is told, both lists are empty.
	if err := alice.WithdrawFriend(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	checkFriend(t, nextFriend(t, bob), "alice", protocol.FriendWithdrawn, "alice", "")
	checkFriend(t, nextFriend(t, alice), "alice", protocol.FriendWithdrawn, "bob", "")
	pending(alice, "alice", false)
	pending(bob, "bob", true)
	friends(alice, "alice")

	// A new request, the other way, accepted.
	if _, err := bob.RequestFriend(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	checkFriend(t, nextFriend(t, bob), "bob", protocol.FriendRequested, "alice", "")
	checkFriend(t, nextFriend(t, alice), "bob", protocol.FriendRequest, "bob", "")
	pending(bob, "bob", false, protocol.PendingFriend{From: "bob", To: "alice"})
	pending(alice, "alice", true, protocol.PendingFriend{From: "bob", To: "alice"})
	if st, err := alice.AnswerFriend(ctx, "bob", true); err != nil || st.Status != protocol.FriendFriends {
		t.Fatalf("accept = %+v, %v", st, err)
	}
	checkFriend(t, nextFriend(t, alice), "alice", protocol.FriendAccepted, "bob", "")
	checkFriend(t, nextFriend(t, bob), "alice", protocol.FriendAccepted, "alice", "")
	friends(alice, "alice", "bob")
	friends(bob, "bob", "alice")
	pending(alice, "alice", true)
	pending(bob, "bob", false)

	// Unfriended: both are told, both lists are empty.
	if err := alice.Unfriend(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	checkFriend(t, nextFriend(t, alice), "alice", protocol.FriendRemoved, "bob", "")
	checkFriend(t, nextFriend(t, bob), "alice", protocol.FriendRemoved, "alice", "")
	friends(alice, "alice")
	friends(bob, "bob")

	// Over MQTT 3.1.1: alice asks, bob declines.
	host, port := mqttHostPort(t, s)
	pctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(pctx, pub, "-h", host, "-p", port, "-V", "mqttv311", "-i", "alice-cli", "-u", "alice", "-P", "password-alice",
		"-q", "1", "-d", "-t", "IMS/bob/Inbox/Add/GFReq/alice", "-m", `{"text":"over MQTT"}`).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "received PUBACK") {
		t.Fatalf("mosquitto_pub of the request: %v:\n%s", err, out)
	}
	checkFriend(t, nextFriend(t, bob), "alice", protocol.FriendRequest, "alice", "over MQTT")
	checkFriend(t, nextFriend(t, alice), "alice", protocol.FriendRequested, "bob", "over MQTT")
	pending(alice, "alice", false, protocol.PendingFriend{From: "alice", To: "bob", Text: "over MQTT"})
	out, err = exec.CommandContext(pctx, pub, "-h", host, "-p", port, "-V", "mqttv311", "-i", "bob-cli", "-u", "bob", "-P", "password-bob",
		"-q", "1", "-d", "-t", "IMS/alice/Inbox/Add/GFResp/bob", "-m", `{"accept":false}`).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "received PUBACK") {
		t.Fatalf("mosquitto_pub of the decline: %v:\n%s", err, out)
	}
	checkFriend(t, nextFriend(t, alice), "bob", protocol.FriendDeclined, "bob", "")
	checkFriend(t, nextFriend(t, bob), "bob", protocol.FriendDeclined, "alice", "")
	pending(alice, "alice", false)
	pending(bob, "bob", true)
	friends(alice, "alice")
}
