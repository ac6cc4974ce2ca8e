package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/checker"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// envInt reads a PARLEY_TEST_* knob with a default.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// S5 and BAD_INPUTS S1: the real binary is killed with SIGKILL again and
// again while clients send; after each restart they reconnect, retry what
// was not acknowledged with the same client message id, and resume. The
// checker then finds nothing lost, duplicated, unexpected, reordered or
// missing. PARLEY_TEST_CRASH_KILLS sets the number of kills (default 10).
func TestCrashLoopLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop: skipped with -short")
	}
	t.Parallel()
	kills := envInt("PARLEY_TEST_CRASH_KILLS", 10)
	p := newProc(t,
		"PARLEY_TIMEOUTS_ACK_FLUSH_INTERVAL=100ms",
		"PARLEY_TIMEOUTS_PING_INTERVAL=1s",
		"PARLEY_TIMEOUTS_PONG_TIMEOUT=1s",
		"PARLEY_TIMEOUTS_PRESENCE_COALESCE=200ms",
		"PARLEY_LOG_LEVEL=warn",
	)
	senders := []string{"s1", "s2", "s3"}
	receiver := "rcv"
	for _, u := range append(append([]string{}, senders...), receiver) {
		p.run("user", "add", u, "--password", "password-"+u)
	}
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	owner := &parley.API{BaseURL: p.url()}
	tok, err := owner.Login(ctx, "s1", "password-s1", "admin")
	if err != nil {
		t.Fatal(err)
	}
	owner.Token = tok.AccessToken
	group, err := owner.CreateGroup(ctx, "crash", "s2", "s3", receiver)
	if err != nil {
		t.Fatal(err)
	}

	chk := checker.New()
	// The group's membership events are server-made messages.
	h, err := owner.History(ctx, group.ID, parley.HistoryOptions{Limit: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h.Messages {
		chk.Stored(m.Conv, m.Seq, m.ID)
	}

	// Devices: every sender's phone and the receiver's phone and tablet. A
	// device's token is made offline by the CLI (it survives restarts).
	type device struct {
		name   string
		user   string
		client *parley.Client
		shown  map[string]bool // message ids shown to the app
		dups   int
	}
	var devices []*device
	for _, u := range senders {
		devices = append(devices, &device{name: u + "/phone", user: u})
	}
	devices = append(devices, &device{name: receiver + "/phone", user: receiver}, &device{name: receiver + "/tablet", user: receiver})
	var readers sync.WaitGroup
	for _, d := range devices {
		d := d
		dev := d.name[len(d.user)+1:]
		token := p.run("token", d.user, "--device", dev, "--ttl", "1h")
		d.shown = map[string]bool{}
		d.client, err = parley.Dial(ctx, parley.Options{
			URL: p.url(), Token: token, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
			Trace: &parley.Trace{
				Received: func(m protocol.Message) { chk.Deliver(d.name, m.Conv, m.Seq, m.ID, m.ClientMsgID, m.From) },
				Acking:   func(conv string, seq uint64) { chk.Ack(d.name, conv, seq) },
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			for m := range d.client.Messages() {
				if d.shown[m.ID] {
					d.dups++
				}
				d.shown[m.ID] = true
			}
		}()
	}
	byName := map[string]*device{}
	for _, d := range devices {
		byName[d.name] = d
	}
	// Direct conversations: each sender with the receiver.
	directs := map[string]string{}
	for _, u := range senders {
		ack, err := byName[u+"/phone"].client.Send(ctx, parley.SendOptions{To: receiver, Body: "hello", ClientMsgID: u + "-hello"})
		if err != nil {
			t.Fatal(err)
		}
		chk.Send(u, u+"-hello", checker.Acked, ack.Conv, ack.Seq, ack.ID)
		directs[u] = ack.Conv
		chk.Expect(u+"/phone", ack.Conv, group.ID)
	}
	chk.Expect(receiver+"/phone", group.ID, directs["s1"], directs["s2"], directs["s3"])
	chk.Expect(receiver+"/tablet", group.ID, directs["s1"], directs["s2"], directs["s3"])

	// Senders: closed loop, alternating the direct conversation and the
	// group, each send retried by the SDK across reconnects.
	stop := make(chan struct{})
	var sent, acked atomic.Int64
	var wg sync.WaitGroup
	for _, u := range senders {
		u := u
		c := byName[u+"/phone"].client
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				conv := directs[u]
				if i%2 == 1 {
					conv = group.ID
				}
				id := fmt.Sprintf("%s-%d", u, i)
				sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
				ack, err := c.Send(sctx, parley.SendOptions{Conv: conv, Body: id, ClientMsgID: id})
				scancel()
				sent.Add(1)
				if err != nil {
					chk.Send(u, id, checker.Unknown, conv, 0, "")
					continue
				}
				acked.Add(1)
				chk.Send(u, id, checker.Acked, ack.Conv, ack.Seq, ack.ID)
				time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
			}
		}()
	}

	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(1500+rand.IntN(2500)) * time.Millisecond)
		p.kill()
		chk.Crash()
		p.start()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	// Final catch-up: every device reaches the last seq of each of its
	// conversations.
	last := map[string]uint64{}
	for _, conv := range append([]string{group.ID}, directs["s1"], directs["s2"], directs["s3"]) {
		// s1 sees the group and its own direct conversation only.
		pg, err := owner.History(ctx, conv, parley.HistoryOptions{Limit: 1})
		if err == nil && len(pg.Messages) > 0 {
			last[conv] = pg.Messages[len(pg.Messages)-1].Seq
		}
	}
	rcvAPI := &parley.API{BaseURL: p.url()}
	rt, err := rcvAPI.Login(ctx, receiver, "password-"+receiver, "probe")
	if err != nil {
		t.Fatal(err)
	}
	rcvAPI.Token = rt.AccessToken
	for _, conv := range directs {
		pg, err := rcvAPI.History(ctx, conv, parley.HistoryOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		last[conv] = pg.Messages[len(pg.Messages)-1].Seq
	}
	behind := func() []string {
		var out []string
		for _, d := range devices {
			pos := d.client.Positions()
			for conv, seq := range last {
				if (d.user == receiver || conv == group.ID || conv == directs[d.user]) && pos[conv] < seq {
					out = append(out, fmt.Sprintf("%s at %s:%d of %d (%v)", d.name, conv, pos[conv], seq, d.client.Err()))
				}
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(behind()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if b := behind(); len(b) > 0 {
		ds, derr := rcvAPI.Devices(ctx)
		_, metrics := httpDo(t, "GET", p.url()+"/metrics", "", nil)
		t.Logf("receiver's devices: %+v %v", ds, derr)
		for _, line := range strings.Split(string(metrics), "\n") {
			if strings.HasPrefix(line, "parley_") {
				t.Log(line)
			}
		}
		t.Errorf("devices did not catch up: %v\n%s", b, chk.Report().String())
	}
	for _, d := range devices {
		d.client.Close()
	}
	readers.Wait()

	r := chk.Report()
	t.Logf("%d kills, %d sends (%d acked): %s", kills, sent.Load(), acked.Load(), r.String())
	if !r.OK() {
		t.Fatalf("checker: %s", r.String())
	}
	if r.Acked < 50 {
		t.Fatalf("only %d messages acknowledged: the load did not run", r.Acked)
	}
	for _, d := range devices {
		if d.dups != 0 {
			t.Errorf("%s: the SDK showed %d duplicates", d.name, d.dups)
		}
	}
}
