package storetest

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var concurrencyTests = []test{
	{"concurrency/gap-free seqs under concurrent batches", func(f *fx) {
		const (
			writers  = 8
			batches  = 12
			perBatch = 8
		)
		convs := []string{"g_0", "g_1", "g_2"}
		senders := []string{"s0", "s1", "s2", "s3"}
		for _, u := range senders {
			f.user(u)
		}
		for _, c := range convs {
			f.group(c, senders[0], senders[1:]...)
		}
		base := map[string]uint64{}
		for _, c := range convs {
			base[c] = f.conv(c).LastSeq
		}

		type sent struct {
			conv, sender, cmid string
			res                store.AppendResult
		}
		results := make([][]sent, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 1))
				var mine []sent
				for b := range batches {
					var entries []store.Append
					for i := range perBatch {
						e := msg(convs[rng.IntN(len(convs))], senders[rng.IntN(len(senders))], fmt.Sprintf("w%d b%d i%d", w, b, i))
						e.ClientMsgID = fmt.Sprintf("w%d-b%d-i%d", w, b, i)
						// Every fourth entry retries an earlier one of this writer.
						if i%4 == 3 && len(mine) > 0 {
							old := mine[rng.IntN(len(mine))]
							e.Conv, e.Sender, e.ClientMsgID = old.conv, old.sender, old.cmid
						}
						entries = append(entries, e)
					}
					res, err := f.s.Append(f.ctx, entries, f.now)
					if err != nil {
						errs[w] = err
						return
					}
					for i, r := range res {
						mine = append(mine, sent{entries[i].Conv, entries[i].Sender, entries[i].ClientMsgID, r})
					}
				}
				results[w] = mine
			})
		}
		wg.Wait()
		for w, err := range errs {
			f.must(err, fmt.Sprintf("writer %d", w))
		}

		// Every client id is stored once, and every result names it.
		byKey := map[string]protocol.Message{}
		for _, c := range convs {
			msgs := f.all(c)
			last := f.conv(c).LastSeq
			f.sameSeqs(seqs(msgs), span(1, last), "seqs of "+c)
			for _, m := range msgs[base[c]:] {
				k := m.From + "/" + m.ClientMsgID
				if _, dup := byKey[k]; dup {
					f.Fatalf("client message id %s stored twice", k)
				}
				byKey[k] = m
			}
		}
		for _, mine := range results {
			for _, s := range mine {
				if s.res.Err != nil {
					f.Fatalf("entry %s failed: %v", s.cmid, s.res.Err)
				}
				stored, ok := byKey[s.sender+"/"+s.cmid]
				if !ok {
					f.Fatalf("acknowledged %s/%s is not stored", s.sender, s.cmid)
				}
				if stored.ID != s.res.Message.ID || stored.Seq != s.res.Message.Seq || stored.Conv != s.conv {
					f.Fatalf("result %+v differs from stored %+v", s.res.Message, stored)
				}
			}
		}
	}},
	{"concurrency/one client id sent at once from many goroutines", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		const n = 8
		res := make([]store.AppendResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				e := store.Append{Conv: c.ID, Sender: "alice", ClientMsgID: "once", Kind: protocol.KindMessage, Body: fmt.Sprint("try ", i)}
				r, err := f.s.Append(f.ctx, []store.Append{e}, f.now)
				if err == nil {
					res[i] = r[0]
				}
				errs[i] = err
			})
		}
		wg.Wait()
		originals := 0
		for i := range n {
			f.must(errs[i], "append")
			if res[i].Err != nil {
				f.Fatalf("attempt %d: %v", i, res[i].Err)
			}
			if !res[i].Duplicate {
				originals++
			}
			if res[i].Message.ID != res[0].Message.ID || res[i].Message.Seq != 1 || res[i].Message.Body != res[0].Message.Body {
				f.Fatalf("attempt %d acknowledged %+v, attempt 0 %+v", i, res[i].Message, res[0].Message)
			}
		}
		if originals != 1 {
			f.Fatalf("%d attempts stored the message, want 1", originals)
		}
		if got := f.conv(c.ID); got.LastSeq != 1 {
			f.Fatalf("LastSeq = %d, want 1", got.LastSeq)
		}
	}},
	{"concurrency/reads during writes see whole batches", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		const batches, size = 20, 5
		done := make(chan struct{})
		var readErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				msgs, err := f.s.Range(f.ctx, c.ID, 0, 0, 1_000_000, true)
				if err != nil {
					readErr = err
					return
				}
				if len(msgs)%size != 0 {
					readErr = fmt.Errorf("read %d messages: a batch of %d was partly visible", len(msgs), size)
					return
				}
			}
		})
		for b := range batches {
			var entries []store.Append
			for i := range size {
				entries = append(entries, msg(c.ID, "alice", fmt.Sprint(b, i)))
			}
			f.appendAll(entries...)
		}
		close(done)
		wg.Wait()
		f.must(readErr, "concurrent reader")
		f.sameSeqs(seqs(f.all(c.ID)), span(1, batches*size), "stored")
	}},
}
