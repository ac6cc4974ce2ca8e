package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// bigEscaped is a body of the largest size whose JSON encoding is six
// times as long: every '<' is written as \u003c.
func bigEscaped(n int) string { return strings.Repeat("<", n) }

// TestPagesAreBoundedInBytes: a backlog of the largest messages that JSON
// escaping blows up six-fold is delivered through resume pages, history
// and the conversation list in frames no larger than the max_frame_bytes
// the hello reply names; the Go SDK (read limit from that number) resumes
// it all instead of failing the same page on every reconnect.
func TestPagesAreBoundedInBytes(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	alice := s.login("alice", "laptop")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // 23 MiB each way under -race
	defer cancel()
	const n = 60 // 60 × 384 KiB escaped: 23 MiB, over the SDK's 16 MiB default
	var conv string
	for i := range n {
		// Sent unescaped (the Go SDK's encoder would escape it over the
		// request limit); the server's encoder escapes it when it sends.
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		body := bigEscaped(s.cfg.Limits.MaxMessageBytes-8) + fmt.Sprintf("%08d", i)
		if err := enc.Encode(map[string]string{"client_msg_id": fmt.Sprintf("big-%d", i), "body": body}); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/v1/users/bob/messages", &b)
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ack protocol.Ack
		err = json.NewDecoder(resp.Body).Decode(&ack)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || err != nil {
			t.Fatalf("send %d: %s (%v)", i, resp.Status, err)
		}
		conv = ack.Conv
	}

	// Every frame the server writes fits the number it announced.
	raw := wsrDial(t, s)
	hello := raw.call(protocol.Request{ID: "hello", Op: protocol.OpHello, Version: protocol.Version, Token: s.login("bob", "raw").Token})
	var h protocol.Hello
	if err := json.Unmarshal(hello.Data, &h); err != nil || h.MaxFrameBytes <= 0 {
		t.Fatalf("hello reply %s: no max_frame_bytes (%v)", hello.Data, err)
	}
	raw.send(protocol.Request{ID: "resume", Op: protocol.OpResume})
	got := 0
	for done := false; !done; {
		f, err := raw.read()
		if err != nil {
			t.Fatalf("read after %d messages: %v", got, err)
		}
		if len(f.Payload) > h.MaxFrameBytes {
			t.Fatalf("a frame of %d bytes, over max_frame_bytes %d", len(f.Payload), h.MaxFrameBytes)
		}
		var pf protocol.Frame
		if err := json.Unmarshal(f.Payload, &pf); err != nil {
			t.Fatalf("frame: %v", err)
		}
		switch pf.Type {
		case protocol.TypePage:
			var p protocol.Page
			if err := json.Unmarshal(pf.Data, &p); err != nil {
				t.Fatal(err)
			}
			got += len(p.Messages)
		case protocol.TypeResumed:
			done = true
		}
	}
	if got != n {
		t.Fatalf("resume delivered %d messages, want %d", got, n)
	}

	// The SDK resumes everything.
	bob := s.dial("bob", "phone")
	msgs := recv(t, bob, n, 60*time.Second)
	for i, m := range msgs {
		if want := fmt.Sprintf("%08d", i); !strings.HasSuffix(m.Body, want) {
			t.Fatalf("message %d ends %q, want %q", i, m.Body[len(m.Body)-8:], want)
		}
	}

	// History pages: bounded, and paging backwards finds all of them.
	api := s.login("bob", "history")
	var before *uint64
	seen := 0
	for range n + 1 {
		p, err := api.History(ctx, conv, parley.HistoryOptions{Before: before, Limit: 300})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(p); len(b) > h.MaxFrameBytes {
			t.Fatalf("history page of %d bytes, over %d", len(b), h.MaxFrameBytes)
		}
		seen += len(p.Messages)
		if !p.More {
			break
		}
		if len(p.Messages) == 0 || len(p.Messages) >= n {
			t.Fatalf("page of %d messages with more set", len(p.Messages))
		}
		before = parley.Seq(p.Messages[0].Seq)
	}
	if seen != n {
		t.Fatalf("history paged %d messages, want %d", seen, n)
	}
}

// TestHistoryAfterAndBefore follows docs/protocol.md §4.2 for every
// combination, zero included: after=0 pages from the start.
func TestHistoryAfterAndBefore(t *testing.T) {
	t.Parallel()
	s := startServer(t, nil)
	s.user("alice")
	s.user("bob")
	alice := s.login("alice", "laptop")
	ctx := ctxT(t)
	var conv string
	for i := 1; i <= 5; i++ {
		ack, err := alice.Send(ctx, "", parley.SendOptions{To: "bob", Body: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		conv = ack.Conv
	}
	ws := s.dial("alice", "phone")
	for _, tc := range []struct {
		name          string
		before, after *uint64
		limit         int
		want          []uint64
		more          bool
		code          int
	}{
		{"newest", nil, nil, 2, []uint64{4, 5}, true, 0},
		{"newest, all", nil, nil, 5, []uint64{1, 2, 3, 4, 5}, false, 0},
		{"after 0 is the start", nil, parley.Seq(0), 2, []uint64{1, 2}, true, 0},
		{"after 0, all", nil, parley.Seq(0), 10, []uint64{1, 2, 3, 4, 5}, false, 0},
		{"after 3", nil, parley.Seq(3), 10, []uint64{4, 5}, false, 0},
		{"after the last", nil, parley.Seq(5), 10, []uint64{}, false, 0},
		{"before 4", parley.Seq(4), nil, 2, []uint64{2, 3}, true, 0},
		{"before 3, all", parley.Seq(3), nil, 10, []uint64{1, 2}, false, 0},
		{"before 1", parley.Seq(1), nil, 10, []uint64{}, false, 0},
		{"before 0", parley.Seq(0), nil, 10, []uint64{}, false, 0},
		{"before past the end", parley.Seq(100), nil, 2, []uint64{4, 5}, true, 0},
		{"both", parley.Seq(4), parley.Seq(1), 10, nil, false, protocol.CodeBadRequest},
		{"both zero", parley.Seq(0), parley.Seq(0), 10, nil, false, protocol.CodeBadRequest},
	} {
		for _, via := range []struct {
			name string
			get  func() (protocol.Page, error)
		}{
			{"http", func() (protocol.Page, error) {
				return alice.History(ctx, conv, parley.HistoryOptions{Before: tc.before, After: tc.after, Limit: tc.limit})
			}},
			{"ws", func() (protocol.Page, error) {
				return ws.History(ctx, conv, parley.HistoryOptions{Before: tc.before, After: tc.after, Limit: tc.limit})
			}},
		} {
			t.Run(tc.name+"/"+via.name, func(t *testing.T) {
				p, err := via.get()
				if tc.code != 0 {
					if !isCode(err, tc.code) {
						t.Fatalf("err %v, want code %d", err, tc.code)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				seqs := []uint64{}
				for _, m := range p.Messages {
					seqs = append(seqs, m.Seq)
				}
				if fmt.Sprint(seqs) != fmt.Sprint(tc.want) || p.More != tc.more {
					t.Fatalf("got %v more=%v, want %v more=%v", seqs, p.More, tc.want, tc.more)
				}
			})
		}
	}
}
