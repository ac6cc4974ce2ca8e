package e2e

// Third-party MQTT clients chat with a WebSocket client through the MQTT
// gateway: mosquitto_sub/mosquitto_pub, Eclipse Paho Go (3.1.1 and 5.0),
// MQTT.js (Node), over TCP, WebSocket (/mqtt) and TLS. Each test is a round
// trip in one conversation: bob (WebSocket, the Go SDK) sends to alice (the
// MQTT client), who receives it on IMS/alice/Inbox/Msg/<conv>; alice
// publishes to IMS/p2p/bob and bob receives it, with the next seq.
//
// Tools that are not installed skip the test, naming the package to
// install, except under CI=true, where they must be there (.ci/run
// installs them).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// needTool returns the path of an executable the test runs. A missing one
// skips the test, or fails it under CI=true: CI must install pkg.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not on PATH (CI=true): CI must install %s", name, pkg)
	}
	t.Skipf("%s is not on PATH: install %s to run this test", name, pkg)
	return ""
}

// mqttChat is a server with alice, who uses the MQTT client under test, and
// bob on a WebSocket.
type mqttChat struct {
	s   *server
	bob *parley.Client
}

func newMQTTChat(t *testing.T, mutate func(*config.Config)) *mqttChat {
	t.Helper()
	s := startServer(t, mutate)
	s.user("alice")
	s.user("bob")
	return &mqttChat{s: s, bob: s.dial("bob", "phone")}
}

// bobSends sends body from bob to alice over the WebSocket and returns the
// ack, after bob's own copy (sent-sync) has arrived.
func (c *mqttChat) bobSends(t *testing.T, body string) protocol.Ack {
	t.Helper()
	ack, err := c.bob.Send(ctxT(t), parley.SendOptions{To: "alice", Body: body})
	if err != nil {
		t.Fatalf("websocket send: %v", err)
	}
	if own := recv(t, c.bob, 1, 10*time.Second)[0]; own.ID != ack.ID || own.From != "bob" {
		t.Fatalf("bob's sent-sync %+v, ack %+v", own, ack)
	}
	return ack
}

// checkDelivery checks what the MQTT client of alice received for bob's
// message ack with body.
func checkDelivery(t *testing.T, topic string, payload []byte, ack protocol.Ack, body string) protocol.Message {
	t.Helper()
	if want := "IMS/alice/Inbox/Msg/" + ack.Conv; topic != want {
		t.Fatalf("delivery on topic %q, want %q (payload %s)", topic, want, payload)
	}
	var m protocol.Message
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("delivery payload is not a message envelope: %v: %q", err, payload)
	}
	if m.Body != body || m.From != "bob" || m.Conv != ack.Conv || m.Seq != ack.Seq || m.ID != ack.ID || m.Kind != protocol.KindMessage {
		t.Fatalf("delivery %s, want body %q from bob, ack %+v", payload, body, ack)
	}
	return m
}

// bobGets waits for alice's message on bob's WebSocket: body, sender, and
// the seq that follows prev in the conversation.
func (c *mqttChat) bobGets(t *testing.T, body string, prev protocol.Ack) protocol.Message {
	t.Helper()
	m := recv(t, c.bob, 1, 10*time.Second)[0]
	if m.Body != body || m.From != "alice" || m.Conv != prev.Conv || m.Seq != prev.Seq+1 || m.Kind != protocol.KindMessage {
		t.Fatalf("websocket got %+v, want body %q from alice in %s with seq %d", m, body, prev.Conv, prev.Seq+1)
	}
	return m
}

// --- mosquitto_sub / mosquitto_pub -----------------------------------------

// lineReader reads a subprocess's output line by line into a channel,
// keeping a transcript for failure messages.
type lineReader struct {
	lines chan string
	mu    sync.Mutex
	all   []string
}

func readLines(r io.Reader) *lineReader {
	lr := &lineReader{lines: make(chan string, 256)}
	go func() {
		defer close(lr.lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lr.mu.Lock()
			lr.all = append(lr.all, sc.Text())
			lr.mu.Unlock()
			lr.lines <- sc.Text()
		}
	}()
	return lr
}

func (lr *lineReader) transcript() string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return strings.Join(lr.all, "\n")
}

// waitLine returns the first line for which match is true, within timeout.
func (lr *lineReader) waitLine(t *testing.T, what string, timeout time.Duration, match func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lr.lines:
			if !ok {
				t.Fatalf("output ended before %s; output:\n%s", what, lr.transcript())
			}
			if match(l) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %s within %v; output:\n%s", what, timeout, lr.transcript())
		}
	}
}

// TestMQTTClientMosquitto: mosquitto_sub receives bob's message (3.1.1 and
// 5.0), mosquitto_pub sends one to bob.
func TestMQTTClientMosquitto(t *testing.T) {
	t.Parallel()
	sub := needTool(t, "mosquitto_sub", "the Debian package mosquitto-clients")
	pub := needTool(t, "mosquitto_pub", "the Debian package mosquitto-clients")
	stdbuf := needTool(t, "stdbuf", "the Debian package coreutils")
	for _, v := range []string{"mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			c := newMQTTChat(t, nil)
			host, port, err := net.SplitHostPort(c.s.app.MQTTAddr())
			if err != nil {
				t.Fatal(err)
			}
			common := []string{"-h", host, "-p", port, "-u", "alice", "-P", "password-alice", "-V", v, "-q", "1", "-d"}

			// WebSocket → MQTT. -d prints the packets, so "received SUBACK"
			// says the subscription is in place (the gateway starts
			// delivery before it writes the SUBACK): a clean session only
			// receives what is committed after that.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// stdbuf makes its stdout line-buffered: the debug lines are
			// printed without a flush.
			cmd := exec.CommandContext(ctx, stdbuf, append([]string{"-oL", sub}, append(common, "-i", "alice-cli", "-t", "IMS/alice/Inbox/Msg/#", "-C", "1", "-W", "10", "-v")...)...)
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
			out.waitLine(t, "SUBACK from mosquitto_sub", 10*time.Second, func(l string) bool {
				return strings.Contains(l, "received SUBACK")
			})
			ack := c.bobSends(t, "hi mosquitto "+v)
			line := out.waitLine(t, "message line from mosquitto_sub", 10*time.Second, func(l string) bool {
				return strings.HasPrefix(l, "IMS/")
			})
			topic, payload, _ := strings.Cut(line, " ")
			checkDelivery(t, topic, []byte(payload), ack, "hi mosquitto "+v)
			for range out.lines { // to EOF: the process has written everything
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("mosquitto_sub: %v; stderr: %s; output:\n%s", err, stderr.String(), out.transcript())
			}
			if tr := out.transcript(); !strings.Contains(tr, "received PUBLISH (d0, q1,") || !strings.Contains(tr, "sending PUBACK") {
				t.Fatalf("mosquitto_sub did not receive a QoS 1 PUBLISH and acknowledge it:\n%s", tr)
			}
			t.Logf("mosquitto_sub:\n%s", out.transcript())

			// MQTT → WebSocket. mosquitto_pub returns once the PUBACK is in.
			body := "hello from mosquitto_pub " + v
			pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer pcancel()
			pout, err := exec.CommandContext(pctx, pub, append(common, "-i", "alice-pub", "-t", "IMS/p2p/bob", "-m", body)...).CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_pub: %v:\n%s", err, pout)
			}
			if !strings.Contains(string(pout), "received PUBACK (Mid: 1, RC:0)") {
				t.Fatalf("mosquitto_pub got no successful PUBACK:\n%s", pout)
			}
			t.Logf("mosquitto_pub:\n%s", pout)
			c.bobGets(t, body, ack)
		})
	}
}

// --- Eclipse Paho Go, MQTT 3.1.1 ---------------------------------------------

// paho3RoundTrip runs the round trip with a connected and subscribed Paho
// 3.1.1 client of alice.
func paho3RoundTrip(t *testing.T, c *mqttChat, alice *mqtt3, label string) {
	t.Helper()
	ack := c.bobSends(t, "hi paho "+label)
	got := recvChat3(t, alice)
	if got.QoS != 1 {
		t.Fatalf("delivery with QoS %d, want 1", got.QoS)
	}
	checkDelivery(t, got.Topic, got.Payload, ack, "hi paho "+label)

	body := "hello from paho " + label
	alice.publish("IMS/p2p/bob", 1, body)
	m := c.bobGets(t, body, ack)
	// The publishing connection receives its own message (sent-sync).
	own := recvChat3(t, alice)
	if pm := own.message(t); pm.ID != m.ID || pm.Seq != m.Seq || pm.From != "alice" || pm.Body != body {
		t.Fatalf("sent-sync on %s: %s, want %+v", own.Topic, own.Payload, m)
	}
}

// isChatTopic reports whether topic carries alice's messages: other inbox
// topics (Receipt, Read, Typing, Presence) carry events that arrive in
// between, at times of their own.
func isChatTopic(topic string) bool { return strings.HasPrefix(topic, "IMS/alice/Inbox/Msg/") }

// recvChat3 returns the next message delivery of a Paho 3.1.1 client,
// skipping events.
func recvChat3(t *testing.T, m *mqtt3) mqttMsg {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case msg := <-m.ch:
			if isChatTopic(msg.Topic) {
				return msg
			}
		case <-deadline:
			t.Fatal("no message delivery on IMS/alice/Inbox/Msg/# within 10s")
		}
	}
}

// TestMQTTClientPaho311: Eclipse Paho Go (3.1.1) over TCP and over
// WebSocket (ws://host:port/mqtt, which Paho opens with subprotocol mqtt).
func TestMQTTClientPaho311(t *testing.T) {
	t.Parallel()
	t.Run("tcp", func(t *testing.T) {
		c := newMQTTChat(t, nil)
		alice := c.s.mqttConnect("alice", "alice-paho", true)
		alice.subscribe("IMS/alice/Inbox/#", 1)
		paho3RoundTrip(t, c, alice, "tcp")
	})
	t.Run("websocket", func(t *testing.T) {
		c := newMQTTChat(t, nil)
		o := c.s.mqtt3Options("alice", "alice-paho-ws", true)
		o.Servers = nil
		o.AddBroker("ws://" + c.s.app.Addr() + "/mqtt")
		alice := c.s.mqttConnectWith(o)
		alice.subscribe("IMS/alice/Inbox/#", 1)
		paho3RoundTrip(t, c, alice, "websocket")
	})
}

// TestMQTTClientTLS: Paho 3.1.1 over MQTT TLS (mqtt.tls_addr) with a
// self-signed certificate the client trusts; plain MQTT to the TLS port
// gets no CONNACK.
func TestMQTTClientTLS(t *testing.T) {
	t.Parallel()
	cert, key, pool := selfSigned(t)
	c := newMQTTChat(t, func(cfg *config.Config) {
		cfg.MQTT.TLSAddr, cfg.MQTT.TLSCert, cfg.MQTT.TLSKey = "127.0.0.1:0", cert, key
	})
	addr := c.s.app.MQTTTLSAddr()
	if addr == "" {
		t.Fatal("MQTTTLSAddr is empty with mqtt.tls_addr set")
	}
	o := c.s.mqtt3Options("alice", "alice-tls", true)
	o.Servers = nil
	o.AddBroker("ssl://" + addr)
	o.SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	alice := c.s.mqttConnectWith(o)
	alice.subscribe("IMS/alice/Inbox/#", 1)
	paho3RoundTrip(t, c, alice, "tls")

	// The TLS listener does not speak plain MQTT.
	plain := c.s.mqtt3Options("alice", "alice-plain", true)
	plain.Servers = nil
	plain.AddBroker("tcp://" + addr)
	plain.SetConnectTimeout(2 * time.Second)
	pc := paho.NewClient(plain)
	tok := pc.Connect()
	if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		pc.Disconnect(0)
		t.Fatal("plain MQTT connected to the TLS listener")
	}
}

// --- Eclipse Paho Go, MQTT 5.0 -----------------------------------------------

// paho5Client is a paho.golang client whose received publishes are queued.
type paho5Client struct {
	c       *paho5.Client
	ch      chan *paho5.Publish
	closing atomic.Bool // errors after the test's own Disconnect are expected
}

func connectPaho5(t *testing.T, conn net.Conn, user, clientID string) *paho5Client {
	t.Helper()
	pc := &paho5Client{ch: make(chan *paho5.Publish, 64)}
	pc.c = paho5.NewClient(paho5.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){func(pr paho5.PublishReceived) (bool, error) {
			pc.ch <- pr.Packet
			return true, nil
		}},
		OnClientError: func(err error) {
			if !pc.closing.Load() {
				t.Logf("paho5 client error: %v", err)
			}
		},
		OnServerDisconnect: func(d *paho5.Disconnect) { t.Logf("paho5: server sent DISCONNECT 0x%02x", d.ReasonCode) },
	})
	ca, err := pc.c.Connect(ctxT(t), &paho5.Connect{
		ClientID: clientID, Username: user, UsernameFlag: true,
		Password: []byte("password-" + user), PasswordFlag: true,
		CleanStart: true, KeepAlive: 30,
	})
	if err != nil {
		t.Fatalf("paho5 connect: %v (connack %+v)", err, ca)
	}
	if ca.ReasonCode != 0 {
		t.Fatalf("paho5 CONNACK reason 0x%02x", ca.ReasonCode)
	}
	t.Cleanup(func() {
		pc.closing.Store(true)
		_ = pc.c.Disconnect(&paho5.Disconnect{ReasonCode: 0})
		select {
		case <-pc.c.Done():
		case <-time.After(5 * time.Second):
		}
	})
	sa, err := pc.c.Subscribe(ctxT(t), &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "IMS/" + user + "/Inbox/#", QoS: 1}}})
	if err != nil {
		t.Fatalf("paho5 subscribe: %v (suback %+v)", err, sa)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] != 1 {
		t.Fatalf("paho5 SUBACK reasons %v, want [1] (granted QoS 1)", sa.Reasons)
	}
	return pc
}

// recv returns the next message delivery, skipping events.
func (pc *paho5Client) recv(t *testing.T, timeout time.Duration) *paho5.Publish {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case p := <-pc.ch:
			if isChatTopic(p.Topic) {
				return p
			}
		case <-deadline:
			t.Fatalf("paho5: no message delivery on IMS/alice/Inbox/Msg/# within %v", timeout)
			return nil
		}
	}
}

// checkMessageProps checks the MQTT 5 user properties of a delivery
// against its envelope.
func checkMessageProps(t *testing.T, props map[string]string, m protocol.Message) {
	t.Helper()
	want := map[string]string{"conv": m.Conv, "seq": strconv.FormatUint(m.Seq, 10), "id": m.ID, "from": m.From}
	for k, v := range want {
		if props[k] != v {
			t.Fatalf("user property %s = %q, want %q (all: %v)", k, props[k], v, props)
		}
	}
}

func paho5Props(p *paho5.Publish) map[string]string {
	out := map[string]string{}
	if p.Properties != nil {
		for _, u := range p.Properties.User {
			out[u.Key] = u.Value
		}
	}
	return out
}

// dialPaho5 connects a paho.golang client of alice over transport (tcp or
// websocket).
func (c *mqttChat) dialPaho5(t *testing.T, transport, clientID string) *paho5Client {
	t.Helper()
	var conn net.Conn
	var err error
	if transport == "tcp" {
		conn, err = net.DialTimeout("tcp", c.s.app.MQTTAddr(), 5*time.Second)
	} else {
		conn, err = dialMQTTWebSocket(ctxT(t), "ws://"+c.s.app.Addr()+"/mqtt")
	}
	if err != nil {
		t.Fatal(err)
	}
	return connectPaho5(t, conn, "alice", clientID)
}

// publish5 publishes at QoS 1 and fails the test unless the PUBACK has
// reason code 0 (Success).
func (pc *paho5Client) publish(t *testing.T, p *paho5.Publish) *paho5.PublishResponse {
	t.Helper()
	res, err := pc.c.Publish(ctxT(t), p)
	if err != nil {
		t.Fatalf("paho5 publish %s: %v (response %+v)", p.Payload, err, res)
	}
	if res.ReasonCode != 0 {
		var up paho5.UserProperties
		if res.Properties != nil {
			up = res.Properties.User
		}
		t.Fatalf("PUBACK of %s: reason code 0x%02x, want 0x00 (user properties %v)", p.Payload, res.ReasonCode, up)
	}
	return res
}

// TestMQTTClientPaho5: Eclipse Paho Go (paho.golang, MQTT 5.0) over TCP and
// over WebSocket: the delivery carries conv/seq/id/from as user
// properties, the PUBACK of a send has reason code 0, and a JSON
// envelope's client_msg_id reaches bob.
func TestMQTTClientPaho5(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"tcp", "websocket"} {
		t.Run(transport, func(t *testing.T) {
			c := newMQTTChat(t, nil)
			alice := c.dialPaho5(t, transport, "alice-paho5-"+transport)

			ack := c.bobSends(t, "hi paho5 "+transport)
			got := alice.recv(t, 10*time.Second)
			if got.QoS != 1 {
				t.Fatalf("delivery with QoS %d, want 1", got.QoS)
			}
			m := checkDelivery(t, got.Topic, got.Payload, ack, "hi paho5 "+transport)
			checkMessageProps(t, paho5Props(got), m)

			// A plain text payload.
			body := "hello from paho5 " + transport
			alice.publish(t, &paho5.Publish{Topic: "IMS/p2p/bob", QoS: 1, Payload: []byte(body)})
			wm := c.bobGets(t, body, ack)
			own := alice.recv(t, 10*time.Second) // sent-sync
			checkMessageProps(t, paho5Props(own), wm)

			// A JSON envelope with a client message id.
			cmid := parley.NewClientMsgID()
			env, _ := json.Marshal(map[string]string{"body": "enveloped " + transport, "client_msg_id": cmid})
			alice.publish(t, &paho5.Publish{Topic: "IMS/p2p/bob", QoS: 1, Payload: env})
			em := c.bobGets(t, "enveloped "+transport, protocol.Ack{Conv: wm.Conv, Seq: wm.Seq})
			if em.ClientMsgID != cmid {
				t.Fatalf("websocket got client_msg_id %q, want %q", em.ClientMsgID, cmid)
			}
		})
	}
}

// TestMQTTClientPaho5PubackProperties: the MQTT 5 PUBACK of a send says
// what the WebSocket ack says, as user properties conv/seq/id/client_msg_id
// (internal/gateway/mqtt ackProps), with reason code 0x00 — also when the
// PUBLISH has user properties of its own (client_msg_id may be given as
// one), which are not echoed back.
func TestMQTTClientPaho5PubackProperties(t *testing.T) {
	t.Parallel()
	c := newMQTTChat(t, nil)
	alice := c.dialPaho5(t, "tcp", "alice-paho5-acks")
	checkAck := func(res *paho5.PublishResponse, m protocol.Message) {
		t.Helper()
		var up paho5.UserProperties
		if res.Properties != nil {
			up = res.Properties.User
		}
		if up.Get("conv") != m.Conv || up.Get("seq") != strconv.FormatUint(m.Seq, 10) || up.Get("id") != m.ID || up.Get("client_msg_id") != m.ClientMsgID {
			t.Errorf("PUBACK user properties %v, want conv=%s seq=%d id=%s client_msg_id=%s", up, m.Conv, m.Seq, m.ID, m.ClientMsgID)
		}
		if up.Get("k") != "" {
			t.Errorf("PUBACK echoes the PUBLISH's user property k: %v", up)
		}
	}
	prev := c.bobSends(t, "hi")
	got := alice.recv(t, 10*time.Second)
	checkDelivery(t, got.Topic, got.Payload, prev, "hi")
	for i, pub := range []*paho5.Publish{
		{Topic: "IMS/p2p/bob", QoS: 1, Payload: []byte("plain")},
		{Topic: "IMS/p2p/bob", QoS: 1, Payload: []byte("with a user property"),
			Properties: &paho5.PublishProperties{User: paho5.UserProperties{{Key: "k", Value: "v"}}}},
		{Topic: "IMS/p2p/bob", QoS: 1, Payload: []byte("with client_msg_id as a user property"),
			Properties: &paho5.PublishProperties{User: paho5.UserProperties{{Key: "client_msg_id", Value: parley.NewClientMsgID()}}}},
	} {
		res, err := alice.c.Publish(ctxT(t), pub)
		if err != nil {
			t.Fatalf("publish %d (%s): %v (response %+v)", i, pub.Payload, err, res)
		}
		m := c.bobGets(t, string(pub.Payload), prev)
		prev = protocol.Ack{Conv: m.Conv, Seq: m.Seq}
		if res.ReasonCode != 0 {
			t.Errorf("publish %d (%s): PUBACK reason code 0x%02x, want 0x00", i, pub.Payload, res.ReasonCode)
		}
		checkAck(res, m)
	}
}

// --- MQTT.js -----------------------------------------------------------------

// mqttjsDir is the npm project of the MQTT.js client, relative to the
// package directory the tests run in.
const mqttjsDir = "mqttjs"

var (
	mqttjsOnce sync.Once
	mqttjsErr  error
)

// ensureMQTTJS installs the npm project's dependencies (npm ci) once, if
// node_modules is missing. The install goes to a scratch copy that is
// renamed into place, so concurrent test runs never see half an install.
func ensureMQTTJS(t *testing.T, npm string) {
	t.Helper()
	mqttjsOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(mqttjsDir, "node_modules", "mqtt", "package.json")); err == nil {
			return
		}
		tmp, err := os.MkdirTemp(mqttjsDir, ".npm-ci-")
		if err != nil {
			mqttjsErr = err
			return
		}
		defer os.RemoveAll(tmp)
		for _, f := range []string{"package.json", "package-lock.json"} {
			b, err := os.ReadFile(filepath.Join(mqttjsDir, f))
			if err == nil {
				err = os.WriteFile(filepath.Join(tmp, f), b, 0o644)
			}
			if err != nil {
				mqttjsErr = err
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, npm, "ci", "--prefix", tmp, "--no-audit", "--no-fund").CombinedOutput()
		if err != nil {
			mqttjsErr = fmt.Errorf("npm ci --prefix %s: %v\n%s", tmp, err, out)
			return
		}
		err = os.Rename(filepath.Join(tmp, "node_modules"), filepath.Join(mqttjsDir, "node_modules"))
		if err != nil {
			if _, serr := os.Stat(filepath.Join(mqttjsDir, "node_modules", "mqtt", "package.json")); serr != nil {
				mqttjsErr = err
			} // else another run installed it first
		}
	})
	if mqttjsErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("installing MQTT.js (npm package mqtt) with npm ci: %v", mqttjsErr)
		}
		t.Skipf("could not install MQTT.js (npm package mqtt; npm ci --prefix e2e/mqttjs needs the npm registry): %v", mqttjsErr)
	}
}

// jsEvent is one JSON line of roundtrip.js.
type jsEvent struct {
	Event          string         `json:"event"`
	Topic          string         `json:"topic"`
	QoS            int            `json:"qos"`
	Payload        string         `json:"payload"`
	UserProperties map[string]any `json:"user_properties"`
	ReasonCode     *int           `json:"reason_code"`
	Message        string         `json:"message"`
	Granted        []struct {
		Topic string `json:"topic"`
		QoS   int    `json:"qos"`
	} `json:"granted"`
}

// props returns the user properties as strings (MQTT.js gives a repeated
// key as an array).
func (e jsEvent) props() map[string]string {
	out := map[string]string{}
	for k, v := range e.UserProperties {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// jsClient is a running roundtrip.js.
type jsClient struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     *lineReader
	stderr  bytes.Buffer
	pending []jsEvent
}

// startMQTTJS runs roundtrip.js with args; with stdin, it publishes what
// publish writes to its stdin and exits when finish closes it.
func startMQTTJS(t *testing.T, node string, stdin bool, args ...string) *jsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	j := &jsClient{t: t}
	args = append([]string{filepath.Join(mqttjsDir, "roundtrip.js"), "--timeout", "40"}, args...)
	if stdin {
		args = append(args, "--stdin")
	}
	j.cmd = exec.CommandContext(ctx, node, args...)
	j.cmd.Stderr = &j.stderr
	var err error
	if j.stdin, err = j.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := j.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	j.out = readLines(stdout)
	t.Cleanup(func() {
		if j.cmd.ProcessState == nil {
			_ = j.cmd.Process.Kill()
			_ = j.cmd.Wait()
		}
	})
	return j
}

// next returns the next event of kind, keeping others for later; an error
// event fails the test. Messages are message deliveries only.
func (j *jsClient) next(kind string, timeout time.Duration) jsEvent {
	j.t.Helper()
	for i, e := range j.pending {
		if e.Event == kind {
			j.pending = append(j.pending[:i], j.pending[i+1:]...)
			return e
		}
	}
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-j.out.lines:
			if !ok {
				j.t.Fatalf("roundtrip.js ended before a %s event; stderr: %s; output:\n%s", kind, j.stderr.String(), j.out.transcript())
			}
			var e jsEvent
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				j.t.Fatalf("roundtrip.js wrote %q: %v", l, err)
			}
			if e.Event == "message" && !isChatTopic(e.Topic) {
				continue // an event (receipt, presence...), not a message
			}
			if e.Event == "error" {
				j.t.Fatalf("roundtrip.js: %s; output:\n%s", e.Message, j.out.transcript())
			}
			if e.Event == kind {
				return e
			}
			j.pending = append(j.pending, e)
		case <-deadline:
			j.t.Fatalf("no %s event from roundtrip.js within %v; output:\n%s", kind, timeout, j.out.transcript())
		}
	}
}

func (j *jsClient) publish(topic, payload string) jsEvent {
	j.t.Helper()
	b, _ := json.Marshal(map[string]any{"topic": topic, "payload": payload, "qos": 1})
	if _, err := j.stdin.Write(append(b, '\n')); err != nil {
		j.t.Fatalf("write to roundtrip.js: %v", err)
	}
	return j.next("published", 10*time.Second)
}

// finish closes stdin and waits for a clean exit.
func (j *jsClient) finish() {
	j.t.Helper()
	_ = j.stdin.Close()
	for range j.out.lines {
	}
	if err := j.cmd.Wait(); err != nil {
		j.t.Fatalf("roundtrip.js: %v; stderr: %s; output:\n%s", err, j.stderr.String(), j.out.transcript())
	}
}

// TestMQTTClientMQTTJS: MQTT.js 5.x (Node) with MQTT 3.1.1 and 5.0, over
// TCP and over WebSocket.
func TestMQTTClientMQTTJS(t *testing.T) {
	t.Parallel()
	node := needTool(t, "node", "the Debian package nodejs")
	npm := needTool(t, "npm", "the Debian package npm")
	ensureMQTTJS(t, npm)
	for _, tc := range []struct {
		name, scheme string
		version      int
	}{
		{"tcp-v4", "mqtt", 4}, {"tcp-v5", "mqtt", 5}, {"ws-v4", "ws", 4}, {"ws-v5", "ws", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newMQTTChat(t, nil)
			url := "mqtt://" + c.s.app.MQTTAddr()
			if tc.scheme == "ws" {
				url = "ws://" + c.s.app.Addr() + "/mqtt"
			}
			args := []string{"--url", url, "--version", strconv.Itoa(tc.version),
				"--username", "alice", "--password", "password-alice", "--subscribe", "IMS/alice/Inbox/#"}
			alice := startMQTTJS(t, node, true, append(args, "--client-id", "alice-js-"+tc.name)...)
			alice.next("connected", 15*time.Second)
			if sub := alice.next("subscribed", 10*time.Second); len(sub.Granted) != 1 || sub.Granted[0].QoS != 1 {
				t.Fatalf("SUBACK granted %+v, want QoS 1", sub.Granted)
			}

			ack := c.bobSends(t, "hi mqtt.js "+tc.name)
			got := alice.next("message", 10*time.Second)
			if got.QoS != 1 {
				t.Fatalf("delivery with QoS %d, want 1", got.QoS)
			}
			m := checkDelivery(t, got.Topic, []byte(got.Payload), ack, "hi mqtt.js "+tc.name)
			if tc.version == 5 {
				checkMessageProps(t, got.props(), m)
			}

			body := "hello from mqtt.js " + tc.name
			res := alice.publish("IMS/p2p/bob", body)
			if res.ReasonCode != nil && *res.ReasonCode != 0 {
				t.Fatalf("PUBACK reason code %d", *res.ReasonCode)
			}
			wm := c.bobGets(t, body, ack)
			own := alice.next("message", 10*time.Second) // sent-sync
			if om := checkOwn(t, own); om.ID != wm.ID || om.Seq != wm.Seq {
				t.Fatalf("sent-sync %+v, want %+v", om, wm)
			}
			alice.finish()

			// The message to publish given in argv: roundtrip.js publishes it
			// once subscribed and exits after one delivery (its sent-sync).
			body = "argv " + tc.name
			once := startMQTTJS(t, node, false, append(args, "--client-id", "alice-js-argv", "--publish", "IMS/p2p/bob", "--message", body, "--count", "1")...)
			once.next("published", 15*time.Second)
			c.bobGets(t, body, protocol.Ack{Conv: wm.Conv, Seq: wm.Seq})
			once.finish()
		})
	}
}

func checkOwn(t *testing.T, e jsEvent) protocol.Message {
	t.Helper()
	var m protocol.Message
	if err := json.Unmarshal([]byte(e.Payload), &m); err != nil || m.From != "alice" || !strings.HasPrefix(e.Topic, "IMS/alice/Inbox/Msg/") {
		t.Fatalf("sent-sync on %s: %s (%v)", e.Topic, e.Payload, err)
	}
	return m
}

// dialMQTTWebSocket opens MQTT over WebSocket (subprotocol mqtt, binary
// messages) as a net.Conn, for clients that take a connection.
func dialMQTTWebSocket(ctx context.Context, url string) (net.Conn, error) {
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		return nil, err
	}
	if ws.Subprotocol() != "mqtt" {
		ws.Close(websocket.StatusProtocolError, "")
		return nil, fmt.Errorf("server chose WebSocket subprotocol %q, want mqtt", ws.Subprotocol())
	}
	ws.SetReadLimit(1 << 20)
	return &lockedConn{Conn: websocket.NetConn(context.Background(), ws, websocket.MessageBinary)}, nil
}

// lockedConn is a net.Conn that is also a sync.Locker. paho.golang writes
// a packet as several Writes (net.Buffers), holding the connection's lock
// if it has one; over TCP one writev keeps a packet whole, but over a
// WebSocket each Write is a frame, and its pinger's first PINGREQ, written
// from another goroutine right after CONNACK, would otherwise land inside
// another packet (the server then reads a malformed packet).
type lockedConn struct {
	net.Conn
	sync.Mutex
}
