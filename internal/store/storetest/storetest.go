// Package storetest is the conformance suite of store.Store: every backend
// (internal/store/sqlite, later internal/store/postgres) runs the same
// tests through Run, so that the contract documented in package store is
// checked once, never copied per backend.
//
// Each subtest opens its own store through the factory and runs in
// parallel with the others; the factory must return an empty store and
// arrange (t.Cleanup) to close it. The suite uses only the store's methods,
// so its expectations are exactly the documented contract.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// test is one conformance test; it gets a fresh store.
type test struct {
	name string
	fn   func(f *fx)
}

// Run runs the conformance suite against stores made by open, one fresh
// store per subtest.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	var all []test
	all = append(all, userTests...)
	all = append(all, sessionTests...)
	all = append(all, deviceTests...)
	all = append(all, conversationTests...)
	all = append(all, appendTests...)
	all = append(all, editTests...)
	all = append(all, memberTests...)
	all = append(all, readTests...)
	all = append(all, unreadTests...)
	all = append(all, bodyTests...)
	all = append(all, positionTests...)
	all = append(all, listTests...)
	all = append(all, concurrencyTests...)
	all = append(all, retentionTests...)
	all = append(all, erasureTests...)
	all = append(all, authorizeTests...)
	all = append(all, mqttTests...)
	all = append(all, commitTests...)
	all = append(all, floorTests...)
	all = append(all, tagTests...)
	all = append(all, noticeTests...)
	all = append(all, systemTests...)
	all = append(all, blockTests...)
	all = append(all, broadcastTests...)
	all = append(all, friendTests...)
	all = append(all, followTests...)
	all = append(all, momentTests...)
	all = append(all, inviteTests...)
	for _, tc := range all {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			tc.fn(&fx{T: t, s: s, ctx: t.Context(), now: t0})
		})
	}
}

// t0 is the suite's clock start: a whole millisecond, as stores keep times
// to the millisecond.
var t0 = time.UnixMilli(1_767_225_600_000).UTC() // 2026-01-01T00:00:00Z

// fx is a test's fixture: the store, a context and a fake clock.
type fx struct {
	*testing.T
	s   store.Store
	ctx context.Context
	now time.Time
}

// tick advances the fake clock by one second and returns it.
func (f *fx) tick() time.Time {
	f.now = f.now.Add(time.Second)
	return f.now
}

// must fails the test on err.
func (f *fx) must(err error, what string) {
	f.Helper()
	if err != nil {
		f.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func (f *fx) wantErr(err, target error, what string) {
	f.Helper()
	if !errors.Is(err, target) {
		f.Fatalf("%s: error = %v, want %v", what, err, target)
	}
}

// user creates a user with a display name.
func (f *fx) user(id string) store.User {
	f.Helper()
	u := store.User{ID: id, DisplayName: "User " + id, CreatedAt: f.now}
	f.must(f.s.CreateUser(f.ctx, u), "create user "+id)
	return u
}

// group creates a group: creator first as owner, then the other members.
// It returns the creation event, seq 1.
func (f *fx) group(id, creator string, others ...string) protocol.Message {
	f.Helper()
	members := []store.Member{{User: creator, Role: protocol.RoleOwner}}
	for _, o := range others {
		members = append(members, store.Member{User: o, Role: protocol.RoleMember})
	}
	c := store.Conversation{ID: id, Kind: protocol.ConvGroup, Name: "Group " + id, CreatedBy: creator, CreatedAt: f.tick()}
	ev, err := f.s.CreateGroup(f.ctx, c, members)
	f.must(err, "create group "+id)
	return ev
}

// direct ensures the direct conversation of a and b.
func (f *fx) direct(a, b string) store.Conversation {
	f.Helper()
	c, err := f.s.EnsureDirect(f.ctx, "d_"+uuid.NewString(), a, b, f.tick())
	f.must(err, "ensure direct")
	return c
}

// msg is a content message entry with a fresh client message id.
func msg(conv, from, body string) store.Append {
	return store.Append{
		Conv: conv, Sender: from, ClientMsgID: uuid.NewString(),
		Kind: protocol.KindMessage, ContentType: "text/plain", Body: body,
	}
}

// appendAll appends entries as one batch at a new clock tick and checks
// the result count.
func (f *fx) appendAll(entries ...store.Append) []store.AppendResult {
	f.Helper()
	res, err := f.s.Append(f.ctx, entries, f.tick())
	f.must(err, "append")
	if len(res) != len(entries) {
		f.Fatalf("append: %d results for %d entries", len(res), len(entries))
	}
	return res
}

// ok appends one entry that must succeed and returns the stored message.
func (f *fx) ok(e store.Append) protocol.Message {
	f.Helper()
	r := f.appendAll(e)[0]
	if r.Err != nil || r.Duplicate {
		f.Fatalf("append %s by %s: err=%v duplicate=%v", e.Kind, e.Sender, r.Err, r.Duplicate)
	}
	return r.Message
}

// send stores a content message and returns it.
func (f *fx) send(conv, from, body string) protocol.Message {
	f.Helper()
	return f.ok(msg(conv, from, body))
}

// conv reads a conversation.
func (f *fx) conv(id string) store.Conversation {
	f.Helper()
	c, err := f.s.Conversation(f.ctx, id)
	f.must(err, "conversation "+id)
	return c
}

// systemEntries is the number of entries in user's system conversation
// (its last seq; 0 if it does not exist, as for a user created before
// system conversations were created with the user).
func (f *fx) systemEntries(user string) uint64 {
	f.Helper()
	c, err := f.s.Conversation(f.ctx, store.SystemConvID(user))
	if errors.Is(err, store.ErrNotFound) {
		return 0
	}
	f.must(err, "system conversation of "+user)
	return c.LastSeq
}

// userConvs returns the conversations of user other than the user's
// system conversation, which every user has, sorted.
func (f *fx) userConvs(user string) []string {
	f.Helper()
	convs, err := f.s.UserConversations(f.ctx, user)
	f.must(err, "conversations of "+user)
	convs = slices.DeleteFunc(convs, func(c string) bool { return c == store.SystemConvID(user) })
	slices.Sort(convs)
	return convs
}

// member reads a membership.
func (f *fx) member(conv, user string) store.Member {
	f.Helper()
	m, err := f.s.Member(f.ctx, conv, user)
	f.must(err, fmt.Sprintf("member %s of %s", user, conv))
	return m
}

// all returns every message of conv in ascending order.
func (f *fx) all(conv string) []protocol.Message {
	f.Helper()
	msgs, err := f.s.Range(f.ctx, conv, 0, 0, 1_000_000, true)
	f.must(err, "range")
	return msgs
}

// at returns the message of conv with the given seq.
func (f *fx) at(conv string, seq uint64) protocol.Message {
	f.Helper()
	msgs, err := f.s.Range(f.ctx, conv, seq-1, seq+1, 10, true)
	f.must(err, "range")
	if len(msgs) != 1 || msgs[0].Seq != seq {
		f.Fatalf("message %d of %s: got %d messages", seq, conv, len(msgs))
	}
	return msgs[0]
}

// sameMessage fails unless got and want are equal field by field (a nil
// and an empty payload are equal).
func (f *fx) sameMessage(got, want protocol.Message, what string) {
	f.Helper()
	if !bytes.Equal(got.Payload, want.Payload) {
		f.Fatalf("%s: payload = %q, want %q", what, got.Payload, want.Payload)
	}
	got.Payload, want.Payload = nil, nil
	if !reflect.DeepEqual(got, want) {
		f.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// seqs returns the seqs of msgs.
func seqs(msgs []protocol.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Seq
	}
	return out
}

// span returns [from, from+1, ..., to] (descending if from > to).
func span(from, to uint64) []uint64 {
	var out []uint64
	for s := from; ; {
		out = append(out, s)
		if s == to {
			return out
		}
		if from < to {
			s++
		} else {
			s--
		}
	}
}

// sameSeqs fails unless got equals want (nil and empty are equal).
func (f *fx) sameSeqs(got, want []uint64, what string) {
	f.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		f.Fatalf("%s: seqs = %v, want %v", what, got, want)
	}
}

// ms is t in Unix milliseconds, as protocol.Message times are.
func ms(t time.Time) int64 { return t.UnixMilli() }
