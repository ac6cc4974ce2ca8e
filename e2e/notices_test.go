package e2e

// System notices to tag expressions (issue 12 point 7, S10, seed 001 scene
// 5): tags set over the admin API and with `parley tags import`, notices
// to region=beijing and to region=hangzhou AND plan=pro, delivered live
// over WebSocket and MQTT, on resume with unread counted, on MQTT's inbox
// without any other subscription or on IMS/System/<value> for a value the
// client carries; a user tagged after a notice does not get it; progress
// ends at matched = stored, also across a kill -9.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// adminDo sends an admin API request and decodes a 2xx answer into out.
func adminDo(t *testing.T, base, method, path string, body, out any) int {
	t.Helper()
	status, b := httpDo(t, method, base+path, adminKey, body)
	if status/100 == 2 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	if status/100 != 2 && out != nil {
		t.Fatalf("%s %s: %d %s", method, path, status, b)
	}
	return status
}

// sendNotice sends a notice over the admin API and returns it.
func sendNotice(t *testing.T, base, to, body string) protocol.Notice {
	t.Helper()
	var n protocol.Notice
	if status := adminDo(t, base, "POST", "/v1/admin/notices", protocol.NoticeRequest{To: to, Body: body}, &n); status != http.StatusAccepted {
		t.Fatalf("send notice: %d", status)
	}
	return n
}

// noticeDone polls a notice until it is done and returns it.
func noticeDone(t *testing.T, base, id string, timeout time.Duration) protocol.Notice {
	t.Helper()
	var n protocol.Notice
	waitFor(t, "notice "+id+" to be done", timeout, func() bool {
		adminDo(t, base, "GET", "/v1/admin/notices/"+id, nil, &n)
		return n.State == protocol.NoticeDone
	})
	return n
}

// isNotice reports whether m is a copy of notice id.
func isNotice(m protocol.Message, id string) bool {
	return m.From == protocol.SystemSender && m.Kind == protocol.KindMessage && m.Social != nil && m.Social.Notice == id &&
		strings.HasPrefix(m.Conv, "s_")
}

// subscribeCode subscribes and returns the SUBACK's return code.
func (m *mqtt3) subscribeCode(filter string) byte {
	m.t.Helper()
	tok := m.c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		m.t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

// patientLogins lets password checks wait their turn longer than the
// default on a loaded machine (the tests sign in several users at once).
func patientLogins(c *config.Config) { c.Auth.PasswordWait = 20 * time.Second }

// mqttToken connects a Paho 3.1.1 client of user with an access token as
// its password, which costs no password hashing.
func (s *server) mqttToken(user, clientID string) *mqtt3 {
	s.t.Helper()
	tok, err := s.app.Core().OpenSession(ctxT(s.t), user, clientID, time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return s.mqttConnectWith(s.mqtt3Options(user, clientID, true).SetPassword(tok.AccessToken))
}

func TestSystemNoticesToTags(t *testing.T) {
	t.Parallel()
	s := startServer(t, patientLogins)
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank"} {
		s.user(u)
	}
	base := s.URL

	// Tags over the admin API: one user at a time, and in bulk.
	var ut protocol.UserTags
	adminDo(t, base, "PUT", "/v1/admin/users/alice/tags", map[string]any{"tags": map[string]string{"region": "beijing", "plan": "free"}}, &ut)
	ut = protocol.UserTags{}
	adminDo(t, base, "PATCH", "/v1/admin/users/alice/tags", protocol.TagsUpdate{Delete: []string{"plan"}}, &ut)
	if len(ut.Tags) != 1 || ut.Tags["region"] != "beijing" {
		t.Fatalf("alice's tags %v", ut.Tags)
	}
	var res protocol.TagsImportResult
	adminDo(t, base, "POST", "/v1/admin/tags", protocol.TagsImport{Users: []protocol.UserTags{
		{User: "bob", Tags: map[string]string{"region": "beijing"}},
		{User: "carol", Tags: map[string]string{"region": "hangzhou", "plan": "pro"}},
		{User: "dave", Tags: map[string]string{"region": "hangzhou", "plan": "free"}},
		{User: "erin", Tags: map[string]string{"region": "beijing", "plan": "pro"}},
		{User: "nobody", Tags: map[string]string{"region": "beijing"}},
	}}, &res)
	if res.Changed != 4 || len(res.Failed) != 1 || res.Failed[0].User != "nobody" {
		t.Fatalf("bulk import %+v", res)
	}
	if status, b := httpDo(t, "PATCH", base+"/v1/admin/users/dave/tags", adminKey, protocol.TagsUpdate{Set: map[string]string{"re/gion": "x"}}); status != http.StatusBadRequest {
		t.Fatalf("a bad key: %d %s", status, b)
	}
	// A PUT without "tags" (a misspelt field) is refused, not a wipe.
	if status, b := httpDo(t, "PUT", base+"/v1/admin/users/dave/tags", adminKey, map[string]any{"tag": map[string]string{"region": "x"}}); status != http.StatusBadRequest || !strings.Contains(string(b), `"tags"`) {
		t.Fatalf("PUT without tags: %d %s", status, b)
	}
	var dave protocol.UserTags
	adminDo(t, base, "GET", "/v1/admin/users/dave/tags", nil, &dave)
	if dave.Tags["region"] != "hangzhou" || dave.Tags["plan"] != "free" {
		t.Fatalf("dave's tags after a refused PUT: %+v", dave)
	}
	var aud protocol.Audience
	adminDo(t, base, "GET", "/v1/admin/tags/audience?to="+url.QueryEscape("region=hangzhou and plan=pro"), nil, &aud)
	if aud.Matched != 1 || aud.To != "region=hangzhou AND plan=pro" {
		t.Fatalf("audience %+v", aud)
	}
	if status, b := httpDo(t, "GET", base+"/v1/admin/tags/audience?to="+url.QueryEscape("region=beijing AND"), adminKey, nil); status != http.StatusBadRequest ||
		!strings.Contains(string(b), "at 19") {
		t.Fatalf("a bad expression: %d %s", status, b)
	}

	// alice is online over WebSocket; bob is offline. carol's MQTT
	// client subscribes to its inbox only; erin's to its inbox and to
	// IMS/System/beijing, and is refused the values it does not carry.
	alice := s.dial("alice", "phone")
	carol := s.mqttToken("carol", "carol-phone")
	carol.subscribe("IMS/carol/Inbox/#", 1)
	erin := s.mqttToken("erin", "erin-phone")
	erin.subscribe("IMS/erin/Inbox/#", 1)
	if code := erin.subscribeCode("IMS/System/beijing"); code != 1 {
		t.Fatalf("erin's subscription to IMS/System/beijing: 0x%02x, want QoS 1", code)
	}
	for _, f := range []string{"IMS/System/hangzhou", "IMS/System/+", "IMS/System/#", "IMS/System/free"} {
		if code := erin.subscribeCode(f); code != 0x80 {
			t.Errorf("erin's subscription to %s: 0x%02x, want 0x80", f, code)
		}
	}

	bj := sendNotice(t, base, "region=beijing", "新年快乐, Beijing")
	if bj.State != protocol.NoticeSending || bj.To != "region=beijing" {
		t.Fatalf("created %+v", bj)
	}
	// Live over WebSocket, in alice's system conversation.
	m := recv(t, alice, 1, 10*time.Second)[0]
	if !isNotice(m, bj.ID) || m.Body != "新年快乐, Beijing" || m.Social.Tags != "beijing" {
		t.Fatalf("alice got %+v", m)
	}
	// erin gets it once, on IMS/System/beijing, not on the inbox too.
	got := erin.recv(1, 10*time.Second)[0]
	if got.Topic != "IMS/System/beijing" || got.QoS != 1 || !isNotice(got.message(t), bj.ID) {
		t.Fatalf("erin got %s (QoS %d): %s", got.Topic, got.QoS, got.Payload)
	}
	done := noticeDone(t, base, bj.ID, 20*time.Second)
	if done.Matched != 3 || done.Stored != 3 || done.Skipped != 0 {
		t.Fatalf("notice to beijing: %+v, want 3 matched and stored", done)
	}
	waitFor(t, "two live deliveries counted", 10*time.Second, func() bool {
		adminDo(t, base, "GET", "/v1/admin/notices/"+bj.ID, nil, &done)
		return done.Delivered == 2 // alice and erin
	})

	// frank is tagged after the notice: he does not get it.
	adminDo(t, base, "PUT", "/v1/admin/users/frank/tags", map[string]any{"tags": map[string]string{"region": "beijing"}}, &ut)

	hz := sendNotice(t, base, "region=hangzhou AND plan=pro", "Pro users in Hangzhou: hello")
	got = carol.recv(1, 10*time.Second)[0]
	if !strings.HasPrefix(got.Topic, "IMS/carol/Inbox/Msg/s_") || !isNotice(got.message(t), hz.ID) {
		t.Fatalf("carol got %s: %s", got.Topic, got.Payload)
	}
	if d := noticeDone(t, base, hz.ID, 20*time.Second); d.Matched != 1 || d.Stored != 1 {
		t.Fatalf("notice to hangzhou pro: %+v", d)
	}
	erin.none(200 * time.Millisecond) // no second copy of the first notice on the inbox, nothing of the second

	// bob was offline: he gets the notice when he connects, counted as
	// unread in his system conversation.
	bobAPI := s.login("bob", "laptop")
	list, err := bobAPI.Conversations(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var sys *protocol.Conversation
	for i := range list.Conversations {
		if list.Conversations[i].Kind == protocol.ConvSystem {
			sys = &list.Conversations[i]
		}
	}
	if sys == nil || sys.Unread != 1 || list.TotalUnread != 1 || sys.LastMessage == nil || !isNotice(*sys.LastMessage, bj.ID) {
		t.Fatalf("bob's conversations %+v", list)
	}
	bob := s.dial("bob", "phone")
	if m := recv(t, bob, 1, 10*time.Second)[0]; !isNotice(m, bj.ID) {
		t.Fatalf("bob resumed %+v", m)
	}
	// frank and dave have nothing; notices are listed newest first.
	for _, u := range []string{"frank", "dave"} {
		l, err := s.login(u, "phone").Conversations(ctxT(t))
		if err != nil || len(l.Conversations) != 0 {
			t.Fatalf("%s's conversations %+v %v, want none", u, l, err)
		}
	}
	var nl protocol.NoticeList
	adminDo(t, base, "GET", "/v1/admin/notices?limit=1", nil, &nl)
	if len(nl.Notices) != 1 || nl.Notices[0].ID != hz.ID || nl.Next != hz.ID {
		t.Fatalf("first page %+v", nl)
	}
	adminDo(t, base, "GET", "/v1/admin/notices?before="+nl.Next, nil, &nl)
	if len(nl.Notices) != 1 || nl.Notices[0].ID != bj.ID {
		t.Fatalf("second page %+v", nl)
	}
}

// TestSystemNoticeMosquitto: mosquitto_sub subscribed to
// IMS/System/beijing alone receives a notice to region=beijing.
func TestSystemNoticeMosquitto(t *testing.T) {
	t.Parallel()
	sub := needTool(t, "mosquitto_sub", "the Debian package mosquitto-clients")
	stdbuf := needTool(t, "stdbuf", "the Debian package coreutils")
	s := startServer(t, patientLogins)
	s.user("alice")
	tok, err := s.app.Core().OpenSession(ctxT(t), "alice", "alice-cli", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	adminDo(t, s.URL, "PUT", "/v1/admin/users/alice/tags", map[string]any{"tags": map[string]string{"region": "beijing"}}, &protocol.UserTags{})
	host, port, err := net.SplitHostPort(s.app.MQTTAddr())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, stdbuf, "-oL", sub, "-h", host, "-p", port, "-u", "alice", "-P", tok.AccessToken,
		"-i", "alice-cli", "-q", "1", "-d", "-t", "IMS/System/beijing", "-C", "1", "-W", "10", "-v")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := readLines(stdout)
	out.waitLine(t, "SUBACK", 10*time.Second, func(l string) bool { return strings.Contains(l, "received SUBACK") })
	if tr := out.transcript(); strings.Contains(tr, "128") {
		t.Fatalf("the subscription was refused:\n%s", tr)
	}
	n := sendNotice(t, s.URL, "region=beijing", "hello from the system")
	line := out.waitLine(t, "the notice", 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "IMS/") })
	topic, payload, _ := strings.Cut(line, " ")
	var m protocol.Message
	if err := json.Unmarshal([]byte(payload), &m); err != nil || topic != "IMS/System/beijing" || !isNotice(m, n.ID) || m.Body != "hello from the system" {
		t.Fatalf("mosquitto_sub got %q (%v)", line, err)
	}
	for range out.lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v; %s", err, stderr.String())
	}
}

// TestTagsImportAndNoticeAcrossKill9: `parley tags import --create-users`
// beside a running server tags 1,200 users; a notice to region=beijing
// (every other one) is paced slowly, the server is killed with SIGKILL in
// the middle of sending it, and after the restart it ends with every one
// of the 600 users holding exactly one copy, matched = stored.
func TestTagsImportAndNoticeAcrossKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary: skipped with -short")
	}
	t.Parallel()
	const secret = "notices-kill9-secret-0123456789abcdef"
	p := newProc(t, "PARLEY_LOG_LEVEL=warn", "PARLEY_AUTH_ADMIN_KEY="+adminKey, "PARLEY_AUTH_EXTERNAL_HMAC_SECRET="+secret,
		"PARLEY_NOTICES_USERS_PER_SECOND=300", "PARLEY_NOTICES_CHUNK_USERS=25")
	p.start()

	var lines strings.Builder
	for i := range 1200 {
		region := []string{"beijing", "hangzhou"}[i%2]
		fmt.Fprintf(&lines, "u%04d region=%s plan=pro\n", i, region)
	}
	file := filepath.Join(t.TempDir(), "tags.txt")
	if err := os.WriteFile(file, []byte(lines.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := p.run("tags", "import", file, "--create-users")
	if !strings.Contains(out, "1200 lines: 1200 users changed, 0 unchanged, 1200 created, 0 failed") {
		t.Fatalf("tags import printed %q", out)
	}
	n := sendNotice(t, p.url(), "region=beijing", "across a crash")
	waitFor(t, "a part of the notice to be stored", 20*time.Second, func() bool {
		var cur protocol.Notice
		adminDo(t, p.url(), "GET", "/v1/admin/notices/"+n.ID, nil, &cur)
		return cur.Stored >= 100
	})
	p.kill()
	p.start()
	done := noticeDone(t, p.url(), n.ID, 30*time.Second)
	if done.Matched != 600 || done.Stored != 600 || done.Skipped != 0 {
		t.Fatalf("after the restart: %+v, want 600 matched and stored", done)
	}
	// Every user of the audience has exactly one copy, the others none.
	for i := range 1200 {
		u := fmt.Sprintf("u%04d", i)
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": u, "dev": "check", "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		list, err := (&parley.API{BaseURL: p.url(), Token: tok}).Conversations(ctxT(t))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		want := 1 - i%2
		if len(list.Conversations) != want || want == 1 && (list.Conversations[0].LastSeq != 1 || list.TotalUnread != 1) {
			t.Fatalf("%s: %+v, want %d system conversation with one notice", u, list, want)
		}
	}
}

// TestSystemNoticeSubscriptionsOverMQTT5: over MQTT 5 a subscription to
// IMS/System/<value> is granted for a value the user carries, and refused
// with SUBACK 0x87 for one the user does not carry (under any key) and for
// a wildcard (3.1.1's 0x80 is in TestSystemNoticesToTags); the granted one
// gets the notice live.
func TestSystemNoticeSubscriptionsOverMQTT5(t *testing.T) {
	t.Parallel()
	s := startServer(t, patientLogins)
	s.user("alice")
	s.user("bob")
	adminDo(t, s.URL, "PUT", "/v1/admin/users/alice/tags", map[string]any{"tags": map[string]string{"region": "beijing", "plan": "free"}}, &protocol.UserTags{})
	adminDo(t, s.URL, "PUT", "/v1/admin/users/bob/tags", map[string]any{"tags": map[string]string{"region": "hangzhou"}}, &protocol.UserTags{})
	conn, err := net.DialTimeout("tcp", s.app.MQTTAddr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	alice := connectPaho5(t, conn, "alice", "alice-paho5")
	for filter, want := range map[string]byte{
		"IMS/System/beijing":  1,
		"IMS/System/free":     1,
		"IMS/System/hangzhou": 0x87, // bob's value, not alice's
		"IMS/System/Beijing":  0x87, // compared exactly
		"IMS/System/pro":      0x87,
		"IMS/System/+":        0x87,
		"IMS/System/#":        0x87,
	} {
		if code := paho5Suback(t, alice, filter); code != want {
			t.Errorf("alice's SUBACK for %s: 0x%02x, want 0x%02x", filter, code, want)
		}
	}
	n := sendNotice(t, s.URL, "region=beijing", "to Beijing")
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-alice.ch:
			var m protocol.Message
			if err := json.Unmarshal(p.Payload, &m); err != nil || !isNotice(m, n.ID) {
				t.Fatalf("alice got %s %s, want the notice", p.Topic, p.Payload)
			}
			if p.Topic != "IMS/System/beijing" {
				t.Fatalf("alice got the notice on %s, want IMS/System/beijing", p.Topic)
			}
			return
		case <-deadline:
			t.Fatal("alice: no notice within 10s")
		}
	}
}

// TestSystemNoticeOnValueTopicAfterResume: a persistent MQTT session
// (clean session 0) subscribed to IMS/System/<value> gets a notice sent
// while it was away there, on reconnect, without subscribing again, and
// not on its inbox. Conversations resume in no fixed order, so bob's
// message, sent after the notice, marks no point: every delivery of the
// notice, until both have come and for a while after, must be on
// IMS/System/beijing.
func TestSystemNoticeOnValueTopicAfterResume(t *testing.T) {
	t.Parallel()
	s := startServer(t, patientLogins)
	s.user("alice")
	s.user("bob")
	adminDo(t, s.URL, "PUT", "/v1/admin/users/alice/tags", map[string]any{"tags": map[string]string{"region": "beijing"}}, &protocol.UserTags{})
	alice := s.mqttConnect("alice", "alice-tablet", false)
	alice.subscribe("IMS/alice/Inbox/#", 1)
	alice.subscribe("IMS/System/beijing", 1)
	alice.c.Disconnect(100)

	n := sendNotice(t, s.URL, "region=beijing", "while you were away")
	noticeDone(t, s.URL, n.ID, 20*time.Second)
	ack, err := s.login("bob", "web").Send(ctxT(t), "", parley.SendOptions{To: "alice", Body: "after the notice"})
	if err != nil {
		t.Fatal(err)
	}

	alice = s.mqttConnect("alice", "alice-tablet", false)
	if !alice.present {
		t.Fatal("CONNACK session present = 0")
	}
	check := func(d mqttMsg) (notice, message bool) {
		t.Helper()
		m := d.message(t)
		switch {
		case m.ID == ack.ID && d.Topic == "IMS/alice/Inbox/Msg/"+ack.Conv:
			return false, true
		case isNotice(m, n.ID) && d.Topic == "IMS/System/beijing" && m.Body == "while you were away":
			return true, false
		}
		t.Fatalf("alice resumed %s %s, want the notice on IMS/System/beijing and bob's message on her inbox", d.Topic, d.Payload)
		return false, false
	}
	sawNotice, sawMessage := false, false
	for !sawNotice || !sawMessage {
		notice, message := check(alice.recv(1, 10*time.Second)[0])
		sawNotice, sawMessage = sawNotice || notice, sawMessage || message
	}
	for end := time.After(300 * time.Millisecond); ; {
		select {
		case d := <-alice.ch:
			check(d)
			continue
		case <-end:
		}
		break
	}
}

// TestSystemNoticeToEveryoneReachesUntagged: a notice to "*" through the
// admin API reaches a user who carries no tag at all, live on the
// WebSocket and in the system conversation, and counts every user.
func TestSystemNoticeToEveryoneReachesUntagged(t *testing.T) {
	t.Parallel()
	s := startServer(t, patientLogins)
	s.user("alice")
	s.user("zoe")
	adminDo(t, s.URL, "PUT", "/v1/admin/users/alice/tags", map[string]any{"tags": map[string]string{"region": "beijing"}}, &protocol.UserTags{})
	var zt protocol.UserTags
	adminDo(t, s.URL, "GET", "/v1/admin/users/zoe/tags", nil, &zt)
	if len(zt.Tags) != 0 {
		t.Fatalf("zoe's tags %v, want none", zt.Tags)
	}
	zoe := s.dial("zoe", "phone")
	n := sendNotice(t, s.URL, "*", "to everyone")
	if m := recv(t, zoe, 1, 10*time.Second)[0]; !isNotice(m, n.ID) || m.Body != "to everyone" {
		t.Fatalf("zoe got %+v, want the notice to everyone", m)
	}
	if d := noticeDone(t, s.URL, n.ID, 20*time.Second); d.Matched != 2 || d.Stored != 2 {
		t.Fatalf("notice to everyone: %+v, want alice and zoe matched and stored", d)
	}
	l, err := s.login("zoe", "web").Conversations(ctxT(t))
	if err != nil || len(l.Conversations) != 1 || l.Conversations[0].Kind != protocol.ConvSystem ||
		l.Conversations[0].LastMessage == nil || !isNotice(*l.Conversations[0].LastMessage, n.ID) {
		t.Fatalf("zoe's conversations %+v, %v; want her system conversation with the notice", l, err)
	}
}
