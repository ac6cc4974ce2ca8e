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
