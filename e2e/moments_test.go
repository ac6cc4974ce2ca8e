package e2e

// The moments feed (SCENARIOS.md S8, seed 001 scene 2) through the real
// server, over WebSocket, HTTP and MQTT and across them: bob publishes his
// moments on IMS/bob; his followers get them live (a moment push on the
// WebSocket, a PUBLISH on IMS/bob to an MQTT subscription) as far as the
// moment's visibility lets them; an unfollow and a removal stop that at
// once, without a reconnect; a removal with a notice reaches the removed
// follower on IMS/<follower>/Inbox/Update/bob/Unsub.
//
// What a connection did not receive is checked without waiting: a marker
// moment by erin, whom every reader follows, is posted after the moment
// that must not arrive, and the reader's next moment must be the marker
// (the server pushes moments in the order they were posted).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// nextMoment returns the text of the next moment push c receives.
func nextMoment(t *testing.T, c *parley.Client) protocol.Moment {
	t.Helper()
	e := event(t, c, protocol.TypeMoment, 10*time.Second, nil)
	return *e.Moment
}

// nextMQTTMoment returns the next delivery on a moment topic (IMS/<user>,
// two levels) and its moment.
func nextMQTTMoment(t *testing.T, m *mqtt3) (string, protocol.Moment) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case msg := <-m.ch:
			if strings.Count(msg.Topic, "/") != 1 {
				continue
			}
			var pm protocol.Moment
			if err := json.Unmarshal(msg.Payload, &pm); err != nil {
				t.Fatalf("delivery on %s is not a moment: %v: %s", msg.Topic, err, msg.Payload)
			}
			return msg.Topic, pm
		case <-deadline:
			t.Fatal("no moment delivery within 10s")
		}
	}
}

// momentsWorld is a server with bob (the author), alice (his friend, on a
// WebSocket), carol (a follower who is not his friend, on MQTT), dave
// (who follows nobody) and erin, whose moments serve as markers.
type momentsWorld struct {
	s                  *server
	alice, bob, carol  *parley.API
	dave, erin         *parley.API
	aliceWS            *parley.Client
	carolMQTT, bobMQTT *mqtt3
	marker             int
}

func newMomentsWorld(t *testing.T) *momentsWorld {
	t.Helper()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		s.user(u)
	}
	w := &momentsWorld{s: s, alice: s.login("alice", "laptop"), bob: s.login("bob", "laptop"), carol: s.login("carol", "laptop"),
		dave: s.login("dave", "laptop"), erin: s.login("erin", "laptop")}
	ctx := ctxT(t)
	if _, err := w.alice.RequestFriend(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.bob.AnswerFriend(ctx, "alice", true); err != nil {
		t.Fatal(err) // friends follow each other
	}
	for _, f := range []struct {
		api  *parley.API
		user string
	}{{w.carol, "bob"}, {w.alice, "erin"}, {w.carol, "erin"}} {
		if err := f.api.Follow(ctx, f.user); err != nil {
			t.Fatalf("follow %s: %v", f.user, err)
		}
	}
	w.aliceWS = s.dial("alice", "phone")
	w.carolMQTT = s.mqttConnect("carol", "carol-phone", true)
	w.carolMQTT.subscribe("IMS/bob", 1)
	w.carolMQTT.subscribe("IMS/erin", 1)
	w.carolMQTT.subscribe("IMS/carol/Inbox/Update/#", 1)
	w.bobMQTT = s.mqttConnect("bob", "bob-phone", true)
	return w
}

// mark posts a marker moment of erin and returns its text.
func (w *momentsWorld) mark(t *testing.T) string {
	t.Helper()
	w.marker++
	text := fmt.Sprint("marker ", w.marker)
	if _, err := w.erin.PostMoment(ctxT(t), protocol.MomentPost{Text: text}); err != nil {
		t.Fatal(err)
	}
	return text
}

// TestMomentsAcrossProtocols: S8 end to end. bob posts over MQTT; alice
// (WebSocket) and carol (MQTT, subscribed to IMS/bob) get what they may
// see; comments and likes follow the moment's visibility; carol's removal
// with a notice reaches her on the Unsub topic and ends her deliveries on
// the subscription she holds; alice's unfollow ends hers; the feed pages
// newest first without duplicates.
func TestMomentsAcrossProtocols(t *testing.T) {
	t.Parallel()
	w := newMomentsWorld(t)
	ctx := ctxT(t)

	// A user who does not follow bob may not subscribe to his moments.
	dave := w.s.mqttConnect("dave", "dave-phone", true)
	tok := dave.c.Subscribe("IMS/bob", 1, nil)
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("no SUBACK")
	}
	if code := tok.(interface{ Result() map[string]byte }).Result()["IMS/bob"]; code != 0x80 {
		t.Fatalf("dave's SUBACK for IMS/bob: 0x%02x, want 0x80", code)
	}

	// bob publishes a moment for his followers on IMS/bob (QoS 1: the
	// PUBACK comes once it is stored), as JSON, and one as plain text.
	w.bobMQTT.publish("IMS/bob", 1, `{"text":"a day at the lake","payload":{"images":["https://img.example.com/lake.jpg"]}}`)
	w.bobMQTT.publish("IMS/bob", 1, "plain text is a moment too")
	for _, want := range []string{"a day at the lake", "plain text is a moment too"} {
		m := nextMoment(t, w.aliceWS)
		if m.Text != want || m.Author != "bob" || m.Visibility != protocol.VisibilityFollowers {
			t.Fatalf("alice got %+v, want bob's %q", m, want)
		}
		topic, cm := nextMQTTMoment(t, w.carolMQTT)
		if topic != "IMS/bob" || cm.Text != want || cm.ID != m.ID {
			t.Fatalf("carol got %q on %s, want %q (id %d) on IMS/bob", cm.Text, topic, want, m.ID)
		}
	}
	lake := w.feedTexts(t, w.alice, 1)[0]
	if lake != "plain text is a moment too" {
		t.Fatalf("alice's newest is %q", lake)
	}

	// Friends only: alice (a friend) gets it, carol (a follower) does not.
	w.bobMQTT.publish("IMS/bob", 1, `{"text":"for friends","visibility":"friends"}`)
	forFriends := nextMoment(t, w.aliceWS)
	if forFriends.Text != "for friends" {
		t.Fatalf("alice got %q, want the friends-only moment", forFriends.Text)
	}
	marker := w.mark(t)
	if _, m := nextMQTTMoment(t, w.carolMQTT); m.Text != marker {
		t.Fatalf("carol got %q, want %s (not the friends-only moment)", m.Text, marker)
	}
	if m := nextMoment(t, w.aliceWS); m.Text != marker {
		t.Fatalf("alice got %q, want %s", m.Text, marker)
	}

	// A list: only the listed users who follow get it; others cannot read it.
	listed, err := w.bob.PostMoment(ctx, protocol.MomentPost{Text: "for carol", Visibility: protocol.VisibilityList, Users: []string{"carol", "dave"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, m := nextMQTTMoment(t, w.carolMQTT); m.Text != "for carol" || len(m.Users) != 0 {
		t.Fatalf("carol got %+v, want the list moment without its list", m)
	}
	marker = w.mark(t)
	if m := nextMoment(t, w.aliceWS); m.Text != marker {
		t.Fatalf("alice got %q, want %s (not the list moment)", m.Text, marker)
	}
	if _, err := w.alice.Moment(ctx, listed.ID); !isStatus(err, 404) {
		t.Fatalf("alice reads the list moment: %v, want 404", err)
	}
	if m, err := w.dave.Moment(ctx, listed.ID); err != nil || m.Text != "for carol" {
		t.Fatalf("dave (listed, not a follower) reads it: %+v, %v", m, err)
	}

	// Comments and likes: for those who may see the moment only.
	c, err := w.alice.Comment(ctx, forFriends.ID, "lovely")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.alice.Like(ctx, forFriends.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := w.alice.Like(ctx, forFriends.ID, true); err != nil {
		t.Fatal(err) // liking twice is one like
	}
	for what, err := range map[string]error{
		"comment":  func() error { _, err := w.carol.Comment(ctx, forFriends.ID, "me too"); return err }(),
		"comments": func() error { _, err := w.carol.Comments(ctx, forFriends.ID, 0, 0); return err }(),
		"like":     w.carol.Like(ctx, forFriends.ID, true),
		"likes":    func() error { _, err := w.carol.Likes(ctx, forFriends.ID, "", 0); return err }(),
	} {
		if !isStatus(err, 404) {
			t.Fatalf("carol's %s on the friends-only moment: %v, want 404", what, err)
		}
	}
	m, err := w.bob.Moment(ctx, forFriends.ID)
	if err != nil || m.Likes != 1 || m.Comments != 1 {
		t.Fatalf("bob reads his moment: %+v, %v; want 1 like, 1 comment", m, err)
	}
	cs, err := w.bob.Comments(ctx, forFriends.ID, 0, 0)
	if err != nil || len(cs.Comments) != 1 || cs.Comments[0].ID != c.ID || cs.Comments[0].Author != "alice" {
		t.Fatalf("comments = %+v, %v", cs, err)
	}
	if err := w.bob.DeleteComment(ctx, forFriends.ID, c.ID); err != nil {
		t.Fatalf("bob deletes alice's comment on his moment: %v", err)
	}

	// bob removes carol from his followers and tells her: the Unsub entry
	// on her Update topic, and nothing more on IMS/bob, still subscribed.
	if err := w.bob.RemoveFollower(ctx, "carol", true); err != nil {
		t.Fatal(err)
	}
	unsub := recvUpdate(t, w.carolMQTT)
	if unsub.Topic != "IMS/carol/Inbox/Update/bob/Unsub" {
		t.Fatalf("unsub on %s", unsub.Topic)
	}
	if e := unsub.message(t); e.Kind != protocol.KindFollow || e.From != "bob" || e.Social == nil ||
		*e.Social != (protocol.SocialEvent{Action: protocol.FollowUnsub, User: "bob"}) {
		t.Fatalf("unsub entry %s", unsub.Payload)
	}
	w.bobMQTT.publish("IMS/bob", 1, "after carol's removal")
	if m := nextMoment(t, w.aliceWS); m.Text != "after carol's removal" {
		t.Fatalf("alice got %q", m.Text)
	}
	marker = w.mark(t)
	if topic, m := nextMQTTMoment(t, w.carolMQTT); m.Text != marker {
		t.Fatalf("carol got %q on %s after her removal, want %s", m.Text, topic, marker)
	}
	if m := nextMoment(t, w.aliceWS); m.Text != marker {
		t.Fatalf("alice got %q, want %s", m.Text, marker)
	}

	// alice unfollows bob (her friend): nothing more of his, at once.
	if err := w.alice.Unfollow(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	w.bobMQTT.publish("IMS/bob", 1, "after alice's unfollow")
	marker = w.mark(t)
	if m := nextMoment(t, w.aliceWS); m.Text != marker {
		t.Fatalf("alice got %q after unfollowing, want %s", m.Text, marker)
	}
	if texts := w.feedTexts(t, w.alice, 100); slices.Contains(texts, "after alice's unfollow") || slices.Contains(texts, "a day at the lake") {
		t.Fatalf("alice's feed after unfollowing bob: %q", texts)
	}

	// bob's own feed pages newest first, every moment once.
	want := []string{"after alice's unfollow", "after carol's removal", "for carol", "for friends", "plain text is a moment too", "a day at the lake"}
	for _, size := range []int{1, 2, 4} {
		if got := w.feedPages(t, w.bob, size); !slices.Equal(got, want) {
			t.Fatalf("bob's feed by pages of %d:\n got  %q\n want %q", size, got, want)
		}
	}
}

// TestMomentPublishRefusedOnOthersTopic: a publish to another user's
// IMS/<user> is refused (MQTT 5: PUBACK 0x87) and stores nothing; a
// subscription to it without following is refused (SUBACK 0x87).
func TestMomentPublishRefusedOnOthersTopic(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pc := connectPaho5(t, conn, "alice", "alice-5")
	res, err := pc.c.Publish(ctxT(t), &paho5.Publish{Topic: "IMS/bob", QoS: 1, Payload: []byte("not mine to post")})
	if err == nil && res.ReasonCode != 0x87 || err != nil && (res == nil || res.ReasonCode != 0x87) {
		t.Fatalf("publish to IMS/bob: %+v, %v; want PUBACK 0x87", res, err)
	}
	sa, err := pc.c.Subscribe(ctxT(t), &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "IMS/bob", QoS: 1}}})
	if err == nil && (len(sa.Reasons) != 1 || sa.Reasons[0] != 0x87) || err != nil && (sa == nil || len(sa.Reasons) != 1 || sa.Reasons[0] != 0x87) {
		t.Fatalf("subscribe to IMS/bob without following: %+v, %v; want SUBACK 0x87", sa, err)
	}
	page, err := s.login("bob", "laptop").UserMoments(ctxT(t), "bob", "", 0)
	if err != nil || len(page.Moments) != 0 {
		t.Fatalf("bob's moments after alice's refused publish: %+v, %v", page, err)
	}
	// Once alice follows bob, the subscription is granted.
	if err := s.login("alice", "laptop").Follow(ctxT(t), "bob"); err != nil {
		t.Fatal(err)
	}
	sa, err = pc.c.Subscribe(ctxT(t), &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "IMS/bob", QoS: 1}}})
	if err != nil || len(sa.Reasons) != 1 || sa.Reasons[0] != 1 {
		t.Fatalf("subscribe to IMS/bob while following: %+v, %v; want QoS 1 granted", sa, err)
	}
	if _, err := s.login("bob", "laptop").PostMoment(ctxT(t), protocol.MomentPost{Text: "to alice over MQTT 5"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-pc.ch:
			if p.Topic != "IMS/bob" {
				continue
			}
			props := paho5Props(p)
			var m protocol.Moment
			if err := json.Unmarshal(p.Payload, &m); err != nil || m.Text != "to alice over MQTT 5" || props["from"] != "bob" || props["kind"] != protocol.TypeMoment {
				t.Fatalf("delivery %s (props %v): %v", p.Payload, props, err)
			}
			return
		case <-deadline:
			t.Fatal("no moment on IMS/bob within 10s")
		}
	}
}

// recvUpdate returns the next delivery on an Update topic.
func recvUpdate(t *testing.T, m *mqtt3) mqttMsg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case msg := <-m.ch:
			if strings.Contains(msg.Topic, "/Inbox/Update/") {
				return msg
			}
		case <-deadline:
			t.Fatal("no delivery on an Update topic within 10s")
		}
	}
}

// feedTexts returns the texts of the first page of a user's feed.
func (w *momentsWorld) feedTexts(t *testing.T, api *parley.API, limit int) []string {
	t.Helper()
	p, err := api.Feed(ctxT(t), "", limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range p.Moments {
		out = append(out, m.Text)
	}
	return out
}

// feedPages pages a user's whole feed size at a time and returns the texts
// of the moments that are not erin's markers, failing on a repeat.
func (w *momentsWorld) feedPages(t *testing.T, api *parley.API, size int) []string {
	t.Helper()
	seen := map[int64]bool{}
	var out []string
	cursor := ""
	for range 100 {
		p, err := api.Feed(ctxT(t), cursor, size)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range p.Moments {
			if seen[m.ID] {
				t.Fatalf("moment %d twice", m.ID)
			}
			if i > 0 && m.ID >= p.Moments[i-1].ID {
				t.Fatalf("page not newest first: %d after %d", m.ID, p.Moments[i-1].ID)
			}
			seen[m.ID] = true
			if m.Author != "erin" {
				out = append(out, m.Text)
			}
		}
		if p.Next == "" {
			return out
		}
		cursor = p.Next
	}
	t.Fatal("the feed does not end")
	return nil
}

// isStatus reports whether err is a protocol error with code.
func isStatus(err error, code int) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == code
}

// TestMomentsMosquitto: with unmodified mosquitto clients (3.1.1 and 5.0),
// a follower's mosquitto_sub on IMS/bob receives what bob's mosquitto_pub
// publishes there; one who does not follow bob is refused the
// subscription; a removed follower's mosquitto_sub on her Update topics
// receives the Unsub notice.
func TestMomentsMosquitto(t *testing.T) {
	t.Parallel()
	sub := needTool(t, "mosquitto_sub", "the Debian package mosquitto-clients")
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	stdbuf := needTool(t, "stdbuf", "the Debian package coreutils")
	for _, v := range []string{"mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			s := startServer(t, nil)
			for _, u := range []string{"alice", "bob", "dave"} {
				s.user(u)
			}
			bob := s.login("bob", "laptop")
			if err := s.login("alice", "laptop").Follow(ctxT(t), "bob"); err != nil {
				t.Fatal(err)
			}
			host, port, err := net.SplitHostPort(s.app.MQTTAddr())
			if err != nil {
				t.Fatal(err)
			}
			args := func(user string, more ...string) []string {
				return append([]string{"-h", host, "-p", port, "-u", user, "-P", "password-" + user, "-V", v, "-q", "1", "-d"}, more...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// startSub runs mosquitto_sub (line-buffered) and waits for its
			// SUBACK.
			startSub := func(user string, more ...string) (*exec.Cmd, *lineReader) {
				cmd := exec.CommandContext(ctx, stdbuf, append([]string{"-oL", sub}, args(user, more...)...)...)
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				cmd.Stderr = cmd.Stdout
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				out := readLines(stdout)
				out.waitLine(t, user+"'s SUBACK", 10*time.Second, func(l string) bool { return strings.Contains(l, "received SUBACK") })
				return cmd, out
			}

			// dave does not follow bob: refused.
			_, daveOut := startSub("dave", "-i", "dave-cli", "-t", "IMS/bob", "-C", "1", "-W", "5")
			daveOut.waitLine(t, "dave's refusal", 10*time.Second, func(l string) bool {
				return strings.Contains(l, "denied") || strings.Contains(l, ": 128") || strings.Contains(l, ": 135")
			})
			t.Logf("mosquitto_sub of dave:\n%s", daveOut.transcript())

			// alice follows bob: she receives his moment.
			cmd, out := startSub("alice", "-i", "alice-cli", "-t", "IMS/bob", "-C", "1", "-W", "10", "-v")
			pout, err := exec.CommandContext(ctx, pub, args("bob", "-i", "bob-cli", "-t", "IMS/bob", "-m", `{"text":"hello followers","visibility":"followers"}`)...).CombinedOutput()
			if err != nil || !strings.Contains(string(pout), "received PUBACK (Mid: 1, RC:0)") {
				t.Fatalf("mosquitto_pub on IMS/bob: %v:\n%s", err, pout)
			}
			line := out.waitLine(t, "alice's moment", 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "IMS/bob ") })
			var m protocol.Moment
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "IMS/bob ")), &m); err != nil || m.Text != "hello followers" || m.Author != "bob" {
				t.Fatalf("mosquitto_sub line %q: %v", line, err)
			}
			for range out.lines { // to EOF
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("mosquitto_sub: %v:\n%s", err, out.transcript())
			}

			// bob removes alice and tells her: her Update topic gets it.
			cmd, out = startSub("alice", "-i", "alice-cli2", "-t", "IMS/alice/Inbox/Update/#", "-C", "1", "-W", "10", "-v")
			if err := bob.RemoveFollower(ctxT(t), "alice", true); err != nil {
				t.Fatal(err)
			}
			line = out.waitLine(t, "alice's Unsub", 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "IMS/") })
			if !strings.HasPrefix(line, "IMS/alice/Inbox/Update/bob/Unsub ") || !strings.Contains(line, `"action":"unsub"`) {
				t.Fatalf("mosquitto_sub line %q, want the Unsub entry on IMS/alice/Inbox/Update/bob/Unsub", line)
			}
			for range out.lines {
			}
			_ = cmd.Wait()
		})
	}
}

// TestMomentOpsOverWebSocket: every op of follows and moments through the
// Go SDK's WebSocket client (docs/protocol.md 4.2).
func TestMomentOpsOverWebSocket(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	for _, u := range []string{"alice", "bob"} {
		s.user(u)
	}
	alice, bob := s.dial("alice", "phone"), s.dial("bob", "phone")
	ctx := ctxT(t)
	if err := alice.Follow(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if l, err := bob.Followers(ctx, "", 0); err != nil || len(l.Follows) != 1 || l.Follows[0].User != "alice" {
		t.Fatalf("bob's followers = %+v, %v", l, err)
	}
	if l, err := alice.Following(ctx, "", 0); err != nil || len(l.Follows) != 1 || l.Follows[0].User != "bob" {
		t.Fatalf("alice follows %+v, %v", l, err)
	}
	m, err := bob.PostMoment(ctx, protocol.MomentPost{Text: "over the websocket", Payload: json.RawMessage(`{"images":[]}`)})
	if err != nil || m.ID == 0 || m.Author != "bob" {
		t.Fatalf("post = %+v, %v", m, err)
	}
	if got := nextMoment(t, alice); got.ID != m.ID || string(got.Payload) != `{"images":[]}` {
		t.Fatalf("alice's push %+v, want moment %d", got, m.ID)
	}
	if p, err := alice.Feed(ctx, "", 10); err != nil || len(p.Moments) != 1 || p.Moments[0].ID != m.ID || p.Next != "" {
		t.Fatalf("alice's feed = %+v, %v", p, err)
	}
	if p, err := alice.UserMoments(ctx, "bob", "", 10); err != nil || len(p.Moments) != 1 {
		t.Fatalf("bob's moments for alice = %+v, %v", p, err)
	}
	c, err := alice.Comment(ctx, m.ID, "nice")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Like(ctx, m.ID, true); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Moment(ctx, m.ID); err != nil || got.Likes != 1 || !got.Liked || got.Comments != 1 {
		t.Fatalf("moment for alice = %+v, %v", got, err)
	}
	if cs, err := bob.Comments(ctx, m.ID, 0, 0); err != nil || len(cs.Comments) != 1 || cs.Comments[0].ID != c.ID {
		t.Fatalf("comments = %+v, %v", cs, err)
	}
	if ls, err := bob.Likes(ctx, m.ID, "", 0); err != nil || len(ls.Likes) != 1 || ls.Likes[0].User != "alice" {
		t.Fatalf("likes = %+v, %v", ls, err)
	}
	if err := alice.Like(ctx, m.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := alice.DeleteComment(ctx, m.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if err := bob.RemoveFollower(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	var unsub protocol.Message
	for unsub.Kind != protocol.KindFollow {
		unsub = recv(t, alice, 1, 10*time.Second)[0]
	}
	if unsub.From != "bob" || unsub.Social == nil || unsub.Social.Action != protocol.FollowUnsub {
		t.Fatalf("alice's unsub entry %+v", unsub)
	}
	if err := bob.DeleteMoment(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Moment(ctx, m.ID); !isStatus(err, 404) {
		t.Fatalf("deleted moment: %v, want 404", err)
	}
	if err := alice.Unfollow(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Follow(ctx, "alice"); !isStatus(err, 400) {
		t.Fatalf("follow oneself: %v, want 400", err)
	}
}

// TestMomentPostLimitOverHTTPAndMQTT5: moments.posts_per_user_per_hour
// (3 here) is one budget for HTTP and MQTT together; beyond it a post is
// refused over HTTP with 429 rate_limited and retry_after_ms, and over
// MQTT 5 with PUBACK 0x97, and nothing is stored; another user's budget
// is their own.
func TestMomentPostLimitOverHTTPAndMQTT5(t *testing.T) {
	t.Parallel()
	s := startServer(t, func(c *config.Config) { c.Moments.PostsPerUserPerHour = 3 })
	s.user("alice")
	s.user("bob")
	ctx := ctxT(t)
	bob := s.login("bob", "laptop")
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bob5 := connectPaho5(t, conn, "bob", "bob-paho5")
	post := func(text string) (int, protocol.Error) {
		t.Helper()
		status, body := httpDo(t, "POST", s.URL+"/v1/moments", bob.Token, protocol.MomentPost{Text: text})
		var eb struct{ Error protocol.Error }
		if status != 201 && json.Unmarshal(body, &eb) != nil {
			t.Fatalf("post %q: %d %s", text, status, body)
		}
		return status, eb.Error
	}
	for _, text := range []string{"one", "two"} {
		if status, e := post(text); status != 201 {
			t.Fatalf("post %q: %d %+v, want 201", text, status, e)
		}
	}
	if got := paho5Refusal(t, bob5, "IMS/bob", "three"); got != `{"code":0,"reason":""}` {
		t.Fatalf("third post, over MQTT 5: %s, want PUBACK 0", got)
	}

	// The budget is spent: refused on both, with the rate-limit shape.
	if status, e := post("four"); status != 429 || e.Code != 429 || e.Reason != "rate_limited" || e.RetryAfterMS <= 0 {
		t.Fatalf("post over the limit, over HTTP: %d %+v, want 429 rate_limited with retry_after_ms", status, e)
	}
	if got := paho5Refusal(t, bob5, "IMS/bob", "five"); !strings.HasPrefix(got, `{"code":151,`) {
		t.Fatalf("post over the limit, over MQTT 5: %s, want PUBACK 0x97", got)
	}
	page, err := bob.UserMoments(ctx, "bob", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range page.Moments {
		texts = append(texts, m.Text)
	}
	if !slices.Equal(texts, []string{"three", "two", "one"}) {
		t.Fatalf("bob's moments %q, want the three within the limit", texts)
	}
	if _, err := s.login("alice", "laptop").PostMoment(ctx, protocol.MomentPost{Text: "alice's own budget"}); err != nil {
		t.Fatalf("alice posts while bob's budget is spent: %v", err)
	}
}

// TestMomentsUnfollowStopsMQTTSubscription: carol holds an MQTT
// subscription to IMS/bob; once she unfollows bob (over HTTP), bob's next
// moment does not reach it, without a reconnect (erin's marker, posted
// after it, is carol's next moment); the subscription stays, and
// delivers bob's moments again once she follows him again.
func TestMomentsUnfollowStopsMQTTSubscription(t *testing.T) {
	t.Parallel()
	w := newMomentsWorld(t)
	ctx := ctxT(t)
	post := func(text string) {
		t.Helper()
		if _, err := w.bob.PostMoment(ctx, protocol.MomentPost{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	next := func(what, wantTopic, wantText string) {
		t.Helper()
		if topic, m := nextMQTTMoment(t, w.carolMQTT); topic != wantTopic || m.Text != wantText {
			t.Fatalf("carol got %q on %s %s, want %q on %s", m.Text, topic, what, wantText, wantTopic)
		}
	}

	post("while carol follows")
	next("while following", "IMS/bob", "while carol follows")

	if err := w.carol.Unfollow(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	post("after carol's unfollow")
	marker := w.mark(t)
	next("after unfollowing", "IMS/erin", marker)

	if err := w.carol.Follow(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	post("after carol follows again")
	next("after following again", "IMS/bob", "after carol follows again")
	marker = w.mark(t)
	next("after following again", "IMS/erin", marker)
}
