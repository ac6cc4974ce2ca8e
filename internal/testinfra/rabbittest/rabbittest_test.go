package rabbittest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parley-im/parley/internal/testinfra/rabbittest"
)

var (
	rmq  *rabbittest.Server
	auth *rabbittest.AuthServer
)

// authBase is where the broker sends its HTTP auth requests, the prefix
// Parley serves them under.
const authBase = "/internal/rabbitmq"

func TestMain(m *testing.M) {
	auth = rabbittest.NewAuthServer()
	code := rabbittest.Main(m, &rmq, rabbittest.Options{AuthHTTP: auth.URL() + authBase})
	auth.Close()
	os.Exit(code)
}

func dial(t *testing.T, url string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// publish publishes body with publisher confirms on and waits for the ack.
func publish(ctx context.Context, t *testing.T, ch *amqp.Channel, exchange, key, body string, persistent bool) {
	t.Helper()
	mode := amqp.Transient
	if persistent {
		mode = amqp.Persistent
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false,
		amqp.Publishing{ContentType: "text/plain", Body: []byte(body), DeliveryMode: mode})
	if err != nil {
		t.Fatalf("publish %q: %v", body, err)
	}
	if dc == nil {
		t.Fatal("publish: no deferred confirm (channel not in confirm mode)")
	}
	acked, err := dc.WaitContext(ctx)
	if err != nil || !acked {
		t.Fatalf("confirm of %q: acked=%v err=%v", body, acked, err)
	}
}

func receive(ctx context.Context, t *testing.T, deliveries <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d, ok := <-deliveries:
		if !ok {
			t.Fatal("delivery channel closed")
		}
		return d
	case <-ctx.Done():
		t.Fatalf("no delivery: %v", ctx.Err())
	}
	panic("unreachable")
}

func TestPublishConsume(t *testing.T) {
	t.Logf("broker %s on %s; its last (re)start took %v", rmq.Node(), rmq.Addr(), rmq.StartupTime())
	if os.Getenv("RABBITTEST_SHOWLOG") != "" {
		t.Log(rmq.Log())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := dial(t, rmq.URL())
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("confirm mode: %v", err)
	}
	exchange := fmt.Sprintf("rabbittest.fanout.%d", time.Now().UnixNano())
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeFanout, false, true, false, false, nil); err != nil {
		t.Fatalf("declare exchange: %v", err)
	}
	// Server-named and exclusive: deleted with the connection.
	q, err := ch.QueueDeclare("", false, false, true, false, nil)
	if err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	if err := ch.QueueBind(q.Name, "", exchange, false, nil); err != nil {
		t.Fatalf("bind: %v", err)
	}
	deliveries, err := ch.Consume(q.Name, "", false, true, false, false, nil) // manual ack
	if err != nil {
		t.Fatalf("consume: %v", err)
	}

	const n = 20
	for i := range n {
		publish(ctx, t, ch, exchange, "", fmt.Sprintf("m%d", i), false)
	}
	for i := range n {
		d := receive(ctx, t, deliveries)
		if got, want := string(d.Body), fmt.Sprintf("m%d", i); got != want {
			t.Fatalf("delivery %d: body %q, want %q", i, got, want)
		}
		if i == n-1 {
			break // left unacknowledged: redelivered below
		}
		if err := d.Ack(false); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
	// Closing the channel returns the unacknowledged delivery to the
	// queue; the acknowledged ones are gone.
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	ch2, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	deliveries, err = ch2.Consume(q.Name, "", false, true, false, false, nil)
	if err != nil {
		t.Fatalf("consume again: %v", err)
	}
	d := receive(ctx, t, deliveries)
	if got, want := string(d.Body), fmt.Sprintf("m%d", n-1); got != want || !d.Redelivered {
		t.Fatalf("after channel close: body %q redelivered %v, want %q redelivered", got, d.Redelivered, want)
	}
	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	if err := ch2.Cancel(d.ConsumerTag, false); err != nil {
		t.Fatal(err)
	}
	if q, err := ch2.QueueDeclarePassive(q.Name, false, false, true, false, nil); err != nil || q.Messages != 0 {
		t.Fatalf("queue after acks: %d messages, err %v; want 0", q.Messages, err)
	}
}

// authRecorder is a stub of Parley's /internal/rabbitmq/* handler: it
// admits alice with one password, lets her use only resources named
// alice.*, and records every request.
type authRecorder struct {
	mu   sync.Mutex
	reqs []authReq
}

type authReq struct {
	path string
	form url.Values
}

func (a *authRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST expected", http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f := r.PostForm
	a.mu.Lock()
	a.reqs = append(a.reqs, authReq{r.URL.Path, f})
	a.mu.Unlock()
	allow := false
	user := f.Get("username")
	switch r.URL.Path {
	case authBase + "/user":
		allow = user == "alice" && f.Get("password") == "right password"
	case authBase + "/vhost":
		allow = user == "alice" && f.Get("vhost") == "/"
	case authBase + "/resource":
		allow = user == "alice" && strings.HasPrefix(f.Get("name"), "alice.")
	case authBase + "/topic":
		allow = user == "alice"
	}
	if allow {
		_, _ = io.WriteString(w, "allow")
	} else {
		_, _ = io.WriteString(w, "deny")
	}
}

// saw tells whether a request to authBase+path carried every field of
// kv ("field", "value", ...).
func (a *authRecorder) saw(path string, kv ...string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
next:
	for _, r := range a.reqs {
		if r.path != authBase+path {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if r.form.Get(kv[i]) != kv[i+1] {
				continue next
			}
		}
		return true
	}
	return false
}

func (a *authRecorder) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b strings.Builder
	for _, r := range a.reqs {
		fmt.Fprintf(&b, "\n  %s %s", r.path, r.form.Encode())
	}
	return b.String()
}

func TestAuthHTTPBackend(t *testing.T) {
	rec := &authRecorder{}
	auth.SetHandler(rec)
	t.Cleanup(func() { auth.SetHandler(nil) })

	// The right password: the broker asks the HTTP backend (the internal
	// database has no alice) and admits her.
	conn := dial(t, rmq.UserURL("alice", "right password"))
	if !rec.saw("/user", "username", "alice", "password", "right password") {
		t.Fatalf("no user_path request for alice; requests:%s", rec)
	}
	if !rec.saw("/vhost", "username", "alice", "vhost", "/", "ip", "127.0.0.1") {
		t.Fatalf("no vhost_path request; requests:%s", rec)
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	// resource_path decides what she may declare.
	if err := ch.ExchangeDeclare("alice.inbox", amqp.ExchangeFanout, false, true, false, false, nil); err != nil {
		t.Fatalf("alice declares alice.inbox: %v", err)
	}
	err = ch.ExchangeDeclare("bob.inbox", amqp.ExchangeFanout, false, true, false, false, nil)
	var aerr *amqp.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp.AccessRefused {
		t.Fatalf("alice declares bob.inbox: err %v, want ACCESS_REFUSED", err)
	}
	if !rec.saw("/resource", "username", "alice", "vhost", "/", "resource", "exchange", "name", "bob.inbox", "permission", "configure") {
		t.Fatalf("no resource_path request for bob.inbox; requests:%s", rec)
	}

	// A wrong password and an unknown user are refused. (RabbitMQ closes
	// the connection 3 s after a refused login from a client that, like
	// amqp091-go, does not advertise authentication_failure_close: dial
	// both at once.)
	logins := []struct{ user, pass string }{{"alice", "wrong password"}, {"mallory", "right password"}}
	errs := make([]error, len(logins))
	var wg sync.WaitGroup
	for i, c := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := amqp.DialConfig(rmq.UserURL(c.user, c.pass), amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
			if err == nil {
				conn.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, c := range logins {
		if errs[i] == nil {
			t.Errorf("%s with %q: login admitted", c.user, c.pass)
		} else if !errors.Is(errs[i], amqp.ErrCredentials) {
			t.Errorf("%s with %q: %v, want %v", c.user, c.pass, errs[i], amqp.ErrCredentials)
		}
	}
	if !rec.saw("/user", "username", "alice", "password", "wrong password") {
		t.Fatalf("no user_path request for the wrong password; requests:%s", rec)
	}
}

func TestStopStartBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := dial(t, rmq.URL())
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	queue := fmt.Sprintf("rabbittest.durable.%d", time.Now().UnixNano())
	if _, err := ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	publish(ctx, t, ch, "", queue, "kept across the restart", true)

	t0 := time.Now()
	if err := rmq.StopBroker(); err != nil {
		t.Fatalf("StopBroker: %v", err)
	}
	stopped := time.Since(t0)
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("the client's connection was not closed by StopBroker")
	}
	if c, err := amqp.DialConfig(rmq.URL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)}); err == nil {
		c.Close()
		t.Fatal("dial of a stopped broker succeeded")
	}
	if err := rmq.StartBroker(ctx); err != nil {
		t.Fatalf("StartBroker: %v", err)
	}
	t.Logf("stopped in %v, started again in %v", stopped, rmq.StartupTime())

	conn = dial(t, rmq.URL())
	ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	d, ok, err := ch.Get(queue, false)
	if err != nil || !ok || string(d.Body) != "kept across the restart" {
		t.Fatalf("get after restart: ok=%v body=%q err=%v", ok, d.Body, err)
	}
	if err := d.Ack(false); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		t.Fatal(err)
	}
}

func TestPauseResume(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := dial(t, rmq.URL())
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if err := rmq.Pause(); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = rmq.Resume()
		}
	}()
	// A paused broker accepts TCP connections but never answers the AMQP
	// handshake.
	t0 := time.Now()
	if c, err := amqp.DialConfig(rmq.URL(), amqp.Config{Dial: amqp.DefaultDial(time.Second)}); err == nil {
		c.Close()
		t.Fatal("dial of a paused broker succeeded")
	} else if d := time.Since(t0); d < 900*time.Millisecond {
		t.Fatalf("dial of a paused broker failed after %v (%v), want a handshake timeout", d, err)
	}
	if err := rmq.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	resumed = true
	// The connection made before the pause works again.
	publish(ctx, t, ch, "", "", "after resume", false)
	dial(t, rmq.URL())
}
