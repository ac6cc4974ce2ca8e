package scenario

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/checker"
	"github.com/parley-im/parley/cmd/parley-bench/internal/conc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/measure"
	"github.com/parley-im/parley/cmd/parley-bench/internal/mqttclient"
	"github.com/parley-im/parley/cmd/parley-bench/internal/proc"
	"github.com/parley-im/parley/cmd/parley-bench/internal/report"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

func init() {
	register(Scenario{"b5", "catch-up: a device offline while 10,000 messages arrive in 100 conversations; time until it has resumed them all", runB5})
}

type b5Flags struct {
	common
	messages    int
	convs       int
	protocols   []string
	bodyBytes   int
	authMode    string
	workers     int
	concurrency int
	timeout     time.Duration
	keepalive   time.Duration
}

func runB5(args []string) error {
	fs := flag.NewFlagSet("b5", flag.ContinueOnError)
	var f b5Flags
	f.flags(fs, false)
	var protocols string
	fs.IntVar(&f.messages, "messages", 10000, "messages that arrive while the device is offline")
	fs.IntVar(&f.convs, "convs", 100, "conversations they arrive in: direct conversations of the catcher with u0, u1, ... (round robin)")
	fs.StringVar(&protocols, "protocols", "ws,mqtt", "how the device resumes: ws (Go SDK, resume on connect), mqtt (MQTT 3.1.1 persistent session, clean session 0); one fresh server each")
	fs.IntVar(&f.bodyBytes, "body-bytes", 100, "message body size in bytes")
	fs.StringVar(&f.authMode, "auth", "external", "external: application-signed JWTs; cli: users and tokens made with 'parley user add' and 'parley token'")
	fs.IntVar(&f.workers, "cli-workers", 2, "parallel 'parley user add/token' processes while preparing (-auth cli)")
	fs.IntVar(&f.concurrency, "send-concurrency", 16, "HTTP sends in flight while the messages are sent (not measured)")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "give up if the device has not received every message this long after it connected")
	fs.DurationVar(&f.keepalive, "keepalive", 60*time.Second, "MQTT keepalive")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "parley-bench b5 -server BIN [flags]\n\n"+
			"Catch-up. Per protocol, a fresh server; the device catcher/load connects once (ws: Go\n"+
			"SDK; mqtt: clean session 0, subscribed to IMS/catcher/Inbox/Msg/# at QoS 1) and gets\n"+
			"and acknowledges one message in each of -convs direct conversations (so it has\n"+
			"positions), then disconnects. While it is offline u<i> send -messages messages over\n"+
			"HTTP into those conversations (not measured). Then the device connects again (ws:\n"+
			"the SDK resumes; mqtt: the persistent session resumes after the CONNACK) and\n"+
			"resume_ms is the time from the start of that connect until it has received every\n"+
			"one of them; delivered_per_s = messages / resume time; server_cpu_us_per_msg is\n"+
			"the server's CPU over the same time per message; lost and duplicated come from the\n"+
			"checker package (every send, delivery and ack recorded).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.protocols, err = parseProtocols(protocols); err != nil {
		return err
	}
	if f.messages < 1 || f.messages > 10_000_000 || f.convs < 1 || f.convs > 10_000 || f.convs > f.messages {
		return errors.New("-messages must be in 1..10000000 and -convs in 1..min(10000, messages)")
	}
	if f.bodyBytes < 1 || f.concurrency < 1 || f.timeout <= 0 || f.keepalive < 10*time.Second || f.keepalive > 300*time.Second {
		return errors.New("-body-bytes and -send-concurrency must be at least 1, -timeout positive, -keepalive in [10s, 300s]")
	}
	root, done, err := f.setup("b5")
	if err != nil {
		return err
	}
	defer done()
	limit, err := proc.CheckNoFile(2*f.concurrency + 64)
	if err != nil {
		return err
	}
	printMachine(limit)
	tmpl := filepath.Join(root, "template")
	if err := os.MkdirAll(tmpl, 0o700); err != nil {
		return err
	}
	users := []string{"catcher"}
	for i := range f.convs {
		users = append(users, fmt.Sprintf("u%d", i))
	}
	tokens, env, err := prepareTokens(f.server, tmpl, users, "load", f.authMode, f.workers)
	if err != nil {
		return err
	}
	env = f.serverEnv(env...)

	var failed []string
	for _, proto := range f.protocols {
		dir := filepath.Join(root, proto)
		if err := proc.CopyDir(tmpl, dir); err != nil {
			return err
		}
		r, err := b5Run(&f, proto, dir, tokens, env)
		if err != nil {
			return fmt.Errorf("%s: %w", proto, err)
		}
		rep := r.report
		fmt.Printf("b5 %s: %d messages in %d conversations resumed in %.1f ms (%.0f/s; first after %.1f ms), server CPU %.1f µs/msg; "+
			"sent offline at %.0f/s; %s\n",
			proto, f.messages, f.convs, measure.Ms(r.resume), float64(f.messages)/r.resume.Seconds(), measure.Ms(r.first), r.cpuPerMsg, r.sentPerS, rep)
		res := report.NewResult("b5", "parley", proto, "catch-up", f.placement())
		res["messages"], res["convs"] = f.messages, f.convs
		if r.missing == 0 {
			res["resume_ms"] = report.Round(measure.Ms(r.resume), 1)
			res[report.KDelivered] = report.Round(float64(f.messages)/r.resume.Seconds(), 0)
			res[report.KCPUPerMsg] = report.Round(r.cpuPerMsg, 1)
		}
		res["first_message_ms"] = report.Round(measure.Ms(r.first), 1)
		res["connect_ms"] = report.Round(measure.Ms(r.connect), 1)
		res["missing"] = r.missing
		res[report.KLost], res[report.KDuplicated], res["redelivered"] = rep.Lost, rep.Duplicated, rep.Redelivered
		res["repeats"] = rep.Deliveries - rep.Delivered
		res["gaps"], res["reordered"], res["unexpected"] = rep.Gaps, rep.Reordered, rep.Unexpected
		res["contract_ok"] = rep.OK()
		res["sent_offline_per_s"] = report.Round(r.sentPerS, 0)
		if proto == "ws" {
			if r.resumedFrame > 0 {
				res["resumed_frame_ms"] = report.Round(measure.Ms(r.resumedFrame), 1)
			}
			res["resumed_messages"] = r.resumedMessages
		} else {
			res["session_present"] = r.present
		}
		res["body_bytes"], res["auth"], res["server_gomaxprocs"] = f.bodyBytes, f.authMode, r.gomaxprocs
		report.EmitResult(res)
		if r.missing > 0 || rep.Lost > 0 {
			failed = append(failed, fmt.Sprintf("%s: %d of %d messages not received within %s, %d lost", proto, r.missing, f.messages, f.timeout, rep.Lost))
		}
		if !f.keep {
			os.RemoveAll(dir)
			os.Remove(dir + ".server.log")
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("b5: %s", strings.Join(failed, "; "))
	}
	return nil
}

type b5Result struct {
	resume, first, connect, resumedFrame time.Duration
	missing                              int
	cpuPerMsg, sentPerS                  float64
	resumedMessages                      int
	present                              bool
	gomaxprocs                           int
	report                               checker.Report
}

// b5Catcher counts what the catcher's device receives, on its reader
// goroutine: in phase 1 the seeds, in phase 2 the messages sent while it
// was offline (each once).
type b5Catcher struct {
	mu        sync.Mutex
	phase     int
	want      map[string]bool // client message ids of phase 2
	seen      map[string]bool
	seeds     int
	convs     int
	seedsDone chan struct{}
	allDone   chan struct{}
	first     time.Time
	last      time.Time
}

func (c *b5Catcher) got(m *protocol.Message) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen[m.ClientMsgID] {
		return
	}
	switch {
	case c.phase == 1 && strings.HasPrefix(m.ClientMsgID, "b5-seed-"):
		c.seen[m.ClientMsgID] = true
		if c.seeds++; c.seeds == c.convs {
			close(c.seedsDone)
		}
	case c.phase == 2 && c.want[m.ClientMsgID]:
		c.seen[m.ClientMsgID] = true
		if c.first.IsZero() {
			c.first = now
		}
		delete(c.want, m.ClientMsgID)
		if len(c.want) == 0 {
			c.last = now
			close(c.allDone)
		}
	}
}

// b5Device is one connection of the catcher's device.
type b5Device struct {
	ws      *parley.Client
	drained chan struct{}
	mqtt    *mqttclient.Client
	present bool
	resumed atomic.Int64 // ws: UnixNano of the resumed frame
	resumeN atomic.Int64 // ws: messages the server says it resumed
}

func (d *b5Device) close() {
	if d.ws != nil {
		d.ws.Close()
		<-d.drained
	}
	if d.mqtt != nil {
		d.mqtt.Close()
	}
}

func b5Run(f *b5Flags, proto, dir string, tokens map[string]string, env []string) (r b5Result, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*f.timeout+10*time.Minute)
	defer cancel()
	srv, err := proc.StartServer(f.server, dir, f.cpuServer, env)
	if err != nil {
		return r, err
	}
	defer srv.StopOrLog()
	var addr string
	if proto == "mqtt" {
		if addr, err = proc.MQTTAddr(srv); err != nil {
			return r, err
		}
	}
	const device = "catcher/load"
	chk := checker.New()
	ct := &b5Catcher{phase: 1, convs: f.convs, want: map[string]bool{}, seen: map[string]bool{},
		seedsDone: make(chan struct{}), allDone: make(chan struct{})}
	connect := func(ctx context.Context) (*b5Device, error) {
		d := &b5Device{}
		if proto == "ws" {
			c, err := parley.Dial(ctx, parley.Options{URL: srv.URL, Token: tokens["catcher"], Trace: traceTo(chk, device, ct.got)})
			if err != nil {
				return nil, err
			}
			d.ws, d.drained = c, make(chan struct{})
			go func() {
				for e := range c.Events() {
					if e.Type == protocol.TypeResumed && e.Resumed != nil && d.resumed.Load() == 0 {
						d.resumeN.Store(int64(e.Resumed.Messages))
						d.resumed.Store(time.Now().UnixNano())
					}
				}
			}()
			go func() {
				defer close(d.drained)
				for range c.Messages() {
				}
			}()
			return d, nil
		}
		c, present, err := mqttclient.DialSession(ctx, mqttclient.DialOptions{Persistent: true, Addr: addr, ClientID: "load", User: "catcher", Password: tokens["catcher"],
			KeepAlive: f.keepalive, OnPublish: mqttRecorder(chk, device, ct.got)})
		if err != nil {
			return nil, err
		}
		d.mqtt, d.present = c, present
		if !present {
			if err := c.Subscribe(ctx, 1, "IMS/catcher/Inbox/Msg/#"); err != nil {
				c.Close()
				return nil, err
			}
		}
		return d, nil
	}
	apis := make([]*parley.API, f.convs)
	for i := range apis {
		apis[i] = &parley.API{BaseURL: srv.URL, Token: tokens[fmt.Sprintf("u%d", i)]}
	}
	body := strings.Repeat("x", f.bodyBytes)
	send := func(i int, cmid string) (string, error) {
		user := fmt.Sprintf("u%d", i)
		ack, err := apis[i].Send(ctx, "", parley.SendOptions{To: "catcher", Body: body, ClientMsgID: cmid})
		if err != nil {
			return "", fmt.Errorf("%s sends %s: %w", user, cmid, err)
		}
		chk.Send(user, cmid, checker.Acked, ack.Conv, ack.Seq, ack.ID)
		return ack.Conv, nil
	}

	// Online once: one message in each conversation, received and acked.
	d, err := connect(ctx)
	if err != nil {
		return r, fmt.Errorf("first connect: %w", err)
	}
	convIDs := make([]string, f.convs)
	err = conc.ForEachLimited(context.Background(), f.convs, f.concurrency, func(i int) error {
		var err error
		convIDs[i], err = send(i, fmt.Sprintf("b5-seed-%d", i))
		return err
	})
	if err == nil {
		chk.Expect(device, convIDs...)
		select {
		case <-ct.seedsDone:
		case <-time.After(f.timeout):
			err = fmt.Errorf("the first connection got %d of %d messages within %s", ct.seedsCount(), f.convs, f.timeout)
		}
	}
	d.close() // both send their last acks first, and the server reads them before the connection ends
	if err != nil {
		return r, err
	}

	// Offline: the messages arrive.
	ct.mu.Lock()
	for k := range f.messages {
		ct.want[b5MsgID(k)] = true
	}
	ct.mu.Unlock()
	t0 := time.Now()
	if err := conc.ForEachLimited(context.Background(), f.messages, f.concurrency, func(k int) error {
		_, err := send(k%f.convs, b5MsgID(k))
		return err
	}); err != nil {
		return r, err
	}
	r.sentPerS = float64(f.messages) / time.Since(t0).Seconds()
	fmt.Printf("b5 %s: %d messages sent in %d conversations while the device was offline (%.0f/s); reconnecting\n", proto, f.messages, f.convs, r.sentPerS)

	// Back online: measured.
	ct.mu.Lock()
	ct.phase = 2
	ct.mu.Unlock()
	profWait := f.profile(srv, "b5-"+proto, time.Second)
	cpu0, err := measure.ProcCPUTime(srv.PID)
	if err != nil {
		return r, err
	}
	start := time.Now()
	d, err = connect(ctx)
	if err != nil {
		return r, fmt.Errorf("reconnect: %w", err)
	}
	r.connect = time.Since(start)
	timedOut := false
	select {
	case <-ct.allDone:
	case <-time.After(f.timeout):
		timedOut = true
	}
	cpu1, err := measure.ProcCPUTime(srv.PID)
	if err != nil {
		return r, err
	}
	ct.mu.Lock()
	r.missing = len(ct.want)
	if !timedOut {
		r.resume = ct.last.Sub(start)
		r.cpuPerMsg = float64((cpu1 - cpu0).Microseconds()) / float64(f.messages)
	}
	if !ct.first.IsZero() {
		r.first = ct.first.Sub(start)
	}
	ct.mu.Unlock()
	if d.ws != nil {
		// The resumed frame ends the resume stream; it may follow the last message.
		for dl := time.Now().Add(5 * time.Second); d.resumed.Load() == 0 && time.Now().Before(dl) && !timedOut; {
			time.Sleep(5 * time.Millisecond)
		}
		if t := d.resumed.Load(); t > 0 {
			r.resumedFrame = time.Unix(0, t).Sub(start)
		}
		r.resumedMessages = int(d.resumeN.Load())
	}
	r.present = d.present
	d.close()
	if err := profWait(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if m, err := srv.Metrics(ctx); err == nil {
		r.gomaxprocs = proc.GomaxprocsOf(m)
	}
	r.report = chk.Report()
	if !r.report.OK() {
		fmt.Fprintf(os.Stderr, "b5 %s: %s\n", proto, r.report)
	}
	return r, nil
}

func b5MsgID(k int) string { return fmt.Sprintf("b5-%d", k) }

func (c *b5Catcher) seedsCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seeds
}
