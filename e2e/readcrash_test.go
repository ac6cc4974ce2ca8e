package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// TestReadPositionsSurviveSIGKILL: a read position is durable once its
// reply is given, although it no longer has a transaction of its own (it
// rides in the committer's next one). Readers mark a group read while
// another member keeps sending; the real binary is killed with SIGKILL
// right after the last reply. After the restart every reader's read
// position is the one its last reply gave, and its unread count is exactly
// the messages stored above it (the reply's count plus what was sent
// after it, never less).
func TestReadPositionsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills the server: skipped with -short")
	}
	t.Parallel()
	p := newProc(t, "PARLEY_LOG_LEVEL=warn")
	const readers, rounds, before = 8, 6, 60
	names := make([]string, readers)
	for i := range names {
		names[i] = fmt.Sprintf("reader%d", i)
		p.run("user", "add", names[i], "--password", "password-"+names[i])
	}
	p.run("user", "add", "writer", "--password", "password-writer")
	p.start()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	login := func(user string) *parley.API {
		a := &parley.API{BaseURL: p.url()}
		tok, err := a.Login(ctx, user, "password-"+user, "phone")
		if err != nil {
			t.Fatalf("login %s: %v", user, err)
		}
		a.Token = tok.AccessToken
		return a
	}
	writer := login("writer")
	g, err := writer.CreateGroup(ctx, "reads", names...)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for i := range before {
		ack, err := writer.Send(ctx, g.ID, parley.SendOptions{Body: fmt.Sprint("before ", i)})
		if err != nil {
			t.Fatal(err)
		}
		last = ack.Seq
	}
	apis := make([]*parley.API, readers)
	for i, n := range names {
		apis[i] = login(n)
	}

	// The writer keeps sending while the readers read, so that the reads
	// share commits with sends.
	stop := make(chan struct{})
	sending := make(chan struct{})
	go func() {
		defer close(sending)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			_, _ = writer.Send(sctx, g.ID, parley.SendOptions{Body: fmt.Sprint("during ", i)})
			scancel()
		}
	}()
	replies := make([]protocol.ReadState, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			for r := range rounds {
				seq := last - before + 1 + uint64((i*rounds+r)*before/(readers*rounds))
				st, err := apis[i].Read(ctx, g.ID, seq)
				if err != nil {
					t.Errorf("%s read %d: %v", names[i], seq, err)
					return
				}
				replies[i] = st
			}
		})
	}
	wg.Wait()
	p.kill() // right after the last reply
	close(stop)
	<-sending
	if t.Failed() {
		t.FailNow()
	}

	p.start()
	// Every message stored, to count what is unread above each position.
	var msgs []protocol.Message
	for after := uint64(0); ; {
		page, err := writer.History(ctx, g.ID, parley.HistoryOptions{After: parley.Seq(after), Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, page.Messages...)
		if len(page.Messages) == 0 || !page.More {
			break
		}
		after = page.Messages[len(page.Messages)-1].Seq
	}
	for i, a := range apis {
		list, err := a.Conversations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var conv *protocol.Conversation
		for j := range list.Conversations {
			if list.Conversations[j].ID == g.ID {
				conv = &list.Conversations[j]
			}
		}
		if conv == nil {
			t.Fatalf("%s: the group is not listed after the restart", names[i])
		}
		if conv.ReadSeq != replies[i].Seq {
			t.Errorf("%s: read position %d after the kill, the last reply said %d", names[i], conv.ReadSeq, replies[i].Seq)
		}
		want := 0
		for _, m := range msgs {
			if m.Seq > conv.ReadSeq && m.IsContent() && m.From != names[i] {
				want++
			}
		}
		if conv.Unread != want || conv.Unread < replies[i].Unread {
			t.Errorf("%s: unread %d after the kill, want %d stored above seq %d (the reply said %d)",
				names[i], conv.Unread, want, conv.ReadSeq, replies[i].Unread)
		}
	}
}
