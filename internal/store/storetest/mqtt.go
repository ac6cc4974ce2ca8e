package storetest

import (
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// mqttSession reads the MQTT session of (user, device) at the fixture's
// clock.
func (f *fx) mqttSession(user, device string) store.MQTTSession {
	f.Helper()
	s, err := f.s.MQTTSession(f.ctx, user, device, f.now)
	f.must(err, "mqtt session of "+user+"/"+device)
	return s
}

// noMQTTSession fails unless (user, device) has no MQTT session at at.
func (f *fx) noMQTTSession(user, device string, at time.Time, what string) {
	f.Helper()
	s, err := f.s.MQTTSession(f.ctx, user, device, at)
	if err == nil {
		f.Fatalf("%s: found %+v, want none", what, s)
	}
	f.wantErr(err, store.ErrNotFound, what)
}

// sameMQTTSession fails unless got and want are equal field by field (a nil
// and an empty subscription list are equal).
func (f *fx) sameMQTTSession(got, want store.MQTTSession, what string) {
	f.Helper()
	same := got.User == want.User && got.Device == want.Device &&
		got.ExpiresAt.Equal(want.ExpiresAt) && len(got.Subscriptions) == len(want.Subscriptions)
	for i := 0; same && i < len(got.Subscriptions); i++ {
		same = got.Subscriptions[i] == want.Subscriptions[i]
	}
	if !same {
		f.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// putMQTT stores an MQTT session.
func (f *fx) putMQTT(s store.MQTTSession) {
	f.Helper()
	f.must(f.s.PutMQTTSession(f.ctx, s), "put mqtt session of "+s.User+"/"+s.Device)
}

// release releases a packet key; it must succeed.
func (f *fx) release(sender, key string) {
	f.Helper()
	f.must(f.s.ReleasePacketKey(f.ctx, sender, key), "release "+key)
}

// withKey is a content message entry with the given client message id
// (may be empty) and packet key.
func withKey(conv, from, clientMsgID, packetKey, body string) store.Append {
	e := withID(conv, from, clientMsgID, body)
	e.PacketKey = packetKey
	return e
}

// withID is a content message entry with the given client message id.
func withID(conv, from, clientMsgID, body string) store.Append {
	e := msg(conv, from, body)
	e.ClientMsgID = clientMsgID
	return e
}

// dup appends e, which must be a duplicate of orig.
func (f *fx) dup(e store.Append, orig protocol.Message, what string) {
	f.Helper()
	r := f.appendAll(e)[0]
	if r.Err != nil || !r.Duplicate {
		f.Fatalf("%s: err=%v duplicate=%v, want a duplicate", what, r.Err, r.Duplicate)
	}
	if r.Message.ID != orig.ID || r.Message.Seq != orig.Seq || r.Message.Body != orig.Body {
		f.Fatalf("%s: duplicate of %+v, want of %+v", what, r.Message, orig)
	}
}

var mqttTests = []test{
	{"mqtt/put and get keep order and qos", func(f *fx) {
		f.user("alice")
		want := store.MQTTSession{
			User: "alice", Device: "phone",
			Subscriptions: []store.MQTTSubscription{
				{Filter: "parley/conv/g_2/#", QoS: 2},
				{Filter: "parley/conv/+/msg", QoS: 0},
				{Filter: "parley/conv/g_1/#", QoS: 1},
				{Filter: "parley/ünïcode/\"quoted\"/x", QoS: 1},
			},
			ExpiresAt: f.now.Add(time.Hour),
		}
		f.putMQTT(want)
		f.sameMQTTSession(f.mqttSession("alice", "phone"), want, "session")

		// A connected session (no expiry) with no subscriptions.
		bare := store.MQTTSession{User: "alice", Device: "laptop"}
		f.putMQTT(bare)
		got := f.mqttSession("alice", "laptop")
		f.sameMQTTSession(got, bare, "session without subscriptions")
		if !got.ExpiresAt.IsZero() {
			f.Fatalf("ExpiresAt = %v, want zero", got.ExpiresAt)
		}
		// It never expires.
		if _, err := f.s.MQTTSession(f.ctx, "alice", "laptop", f.now.Add(100*365*24*time.Hour)); err != nil {
			f.Fatalf("a session without expiry, a century later: %v", err)
		}
	}},
	{"mqtt/put replaces every field", func(f *fx) {
		f.user("alice")
		f.putMQTT(store.MQTTSession{
			User: "alice", Device: "phone",
			Subscriptions: []store.MQTTSubscription{{Filter: "a/#", QoS: 1}, {Filter: "b/#", QoS: 2}},
			ExpiresAt:     f.now.Add(time.Hour),
		})
		want := store.MQTTSession{
			User: "alice", Device: "phone",
			Subscriptions: []store.MQTTSubscription{{Filter: "c/+", QoS: 0}},
		}
		f.putMQTT(want)
		f.sameMQTTSession(f.mqttSession("alice", "phone"), want, "replaced session")
		// And back to an expiring one with no subscriptions.
		want = store.MQTTSession{User: "alice", Device: "phone", ExpiresAt: f.now.Add(time.Minute)}
		f.putMQTT(want)
		f.sameMQTTSession(f.mqttSession("alice", "phone"), want, "replaced again")
	}},
	{"mqtt/absent session is not found", func(f *fx) {
		f.user("alice")
		f.noMQTTSession("alice", "phone", f.now, "no session yet")
		f.noMQTTSession("nobody", "phone", f.now, "unknown user")
		f.putMQTT(store.MQTTSession{User: "alice", Device: "phone"})
		f.noMQTTSession("alice", "laptop", f.now, "another device")
	}},
	{"mqtt/session expires", func(f *fx) {
		f.user("alice")
		start := f.now
		want := store.MQTTSession{
			User: "alice", Device: "phone",
			Subscriptions: []store.MQTTSubscription{{Filter: "x/#", QoS: 1}},
			ExpiresAt:     start.Add(time.Second),
		}
		f.putMQTT(want)
		f.sameMQTTSession(f.mqttSession("alice", "phone"), want, "before expiry")
		if s, err := f.s.MQTTSession(f.ctx, "alice", "phone", start.Add(999*time.Millisecond)); err != nil {
			f.Fatalf("1ms before expiry: %v", err)
		} else {
			f.sameMQTTSession(s, want, "1ms before expiry")
		}
		f.noMQTTSession("alice", "phone", start.Add(time.Second), "at expiry")
		f.noMQTTSession("alice", "phone", start.Add(time.Minute), "after expiry")
		// A new put after expiry makes a live session again.
		want.ExpiresAt = start.Add(time.Hour)
		f.putMQTT(want)
		if s, err := f.s.MQTTSession(f.ctx, "alice", "phone", start.Add(time.Minute)); err != nil {
			f.Fatalf("session put again after expiry: %v", err)
		} else {
			f.sameMQTTSession(s, want, "session put again after expiry")
		}
	}},
	{"mqtt/delete is idempotent", func(f *fx) {
		f.user("alice")
		f.putMQTT(store.MQTTSession{User: "alice", Device: "phone", Subscriptions: []store.MQTTSubscription{{Filter: "a", QoS: 1}}})
		f.putMQTT(store.MQTTSession{User: "alice", Device: "laptop"})
		f.must(f.s.DeleteMQTTSession(f.ctx, "alice", "phone"), "delete")
		f.noMQTTSession("alice", "phone", f.now, "deleted session")
		f.must(f.s.DeleteMQTTSession(f.ctx, "alice", "phone"), "delete twice")
		f.must(f.s.DeleteMQTTSession(f.ctx, "nobody", "phone"), "delete absent")
		f.mqttSession("alice", "laptop")
	}},
	{"mqtt/sessions are per user and device", func(f *fx) {
		f.user("alice")
		f.user("bob")
		a := store.MQTTSession{User: "alice", Device: "phone", Subscriptions: []store.MQTTSubscription{{Filter: "alice/#", QoS: 2}}}
		b := store.MQTTSession{User: "bob", Device: "phone", Subscriptions: []store.MQTTSubscription{{Filter: "bob/#", QoS: 0}},
			ExpiresAt: f.now.Add(time.Second)}
		f.putMQTT(a)
		f.putMQTT(b)
		f.sameMQTTSession(f.mqttSession("alice", "phone"), a, "alice's session")
		f.sameMQTTSession(f.mqttSession("bob", "phone"), b, "bob's session")
		// Bob's expiry is his own.
		later := f.now.Add(time.Minute)
		f.noMQTTSession("bob", "phone", later, "bob's expired session")
		if _, err := f.s.MQTTSession(f.ctx, "alice", "phone", later); err != nil {
			f.Fatalf("alice's session after bob's expired: %v", err)
		}
		f.putMQTT(b)
		f.must(f.s.DeleteMQTTSession(f.ctx, "alice", "phone"), "delete alice's")
		f.noMQTTSession("alice", "phone", f.now, "alice's deleted session")
		f.sameMQTTSession(f.mqttSession("bob", "phone"), b, "bob's session after alice's delete")
	}},
	{"mqtt/packet keys are held until released", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		first := f.ok(withKey(c.ID, "alice", "q2:aaaa", "q2:x:7", "first"))
		// Held: the same key is the first message, whatever its client
		// message id; in the same batch too.
		f.dup(withKey(c.ID, "alice", "q2:bbbb", "q2:x:7", "retry"), first, "same key before release")
		res := f.appendAll(withKey(c.ID, "alice", "q2:cccc", "q2:x:8", "a"), withKey(c.ID, "alice", "q2:dddd", "q2:x:8", "b"))
		if res[0].Err != nil || res[0].Duplicate || !res[1].Duplicate || res[1].Message.ID != res[0].Message.ID {
			f.Fatalf("one key twice in a batch: %+v", res)
		}
		// The client message id stays a key of its own.
		f.dup(withID(c.ID, "alice", "q2:aaaa", "by client id"), first, "client message id of the holder")
		// Keys are per sender.
		bobs := f.ok(withKey(c.ID, "bob", "", "q2:x:7", "bob's"))
		if bobs.ID == first.ID {
			f.Fatal("bob's message with alice's key is alice's")
		}

		f.release("alice", "q2:x:7")
		f.release("alice", "q2:x:7") // idempotent
		second := f.ok(withKey(c.ID, "alice", "q2:eeee", "q2:x:7", "second"))
		if second.ID == first.ID || second.Body != "second" {
			f.Fatalf("after release: %+v, want a new message after %+v", second, first)
		}
		f.dup(withKey(c.ID, "alice", "q2:ffff", "q2:x:7", "retry of second"), second, "the key again")
		// What readers see of the released message did not change.
		if got := f.at(c.ID, first.Seq); got.ID != first.ID || got.ClientMsgID != "q2:aaaa" || got.Body != "first" {
			f.Fatalf("released message = %+v, want %+v", got, first)
		}
		f.dup(withID(c.ID, "alice", "q2:aaaa", "by client id after release"), first, "client message id after release")

		// No message holds these keys.
		f.release("alice", "absent")
		f.release("bob", "q2:x:8")
		f.dup(withKey(c.ID, "alice", "", "q2:x:8", "alice again"), res[0].Message, "another sender's release")
		f.release("", "")
		f.release("alice", "")
	}},
	{"mqtt/a packet key of a purged message holds nothing", func(f *fx) {
		f.user("alice")
		f.user("bob")
		c := f.direct("alice", "bob")
		f.ok(withKey(c.ID, "alice", "", "q2:x:1", "old"))
		n, err := f.s.Purge(f.ctx, f.tick().Add(time.Hour), time.Minute, 10)
		f.must(err, "purge")
		if n != 1 {
			f.Fatalf("purged %d, want 1", n)
		}
		if m := f.ok(withKey(c.ID, "alice", "", "q2:x:1", "new")); m.Seq != 2 {
			f.Fatalf("after the purge: %+v, want seq 2", m)
		}
		f.release("alice", "q2:x:1")
		f.ok(withKey(c.ID, "alice", "", "q2:x:1", "newer"))
	}},
	{"mqtt/deleting and expiring devices remove their sessions", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.session("old-1", "alice", "old")
		f.session("gone-1", "alice", "gone")
		f.session("new-1", "alice", "new")
		f.session("bob-1", "bob", "old")
		for _, k := range [][2]string{{"alice", "old"}, {"alice", "gone"}, {"alice", "new"}, {"bob", "old"}} {
			f.putMQTT(store.MQTTSession{User: k[0], Device: k[1], Subscriptions: []store.MQTTSubscription{{Filter: "t", QoS: 1}}})
		}

		f.must(f.s.DeleteDevice(f.ctx, "alice", "gone"), "delete device")
		f.noMQTTSession("alice", "gone", f.now, "session of a deleted device")
		f.mqttSession("alice", "old")

		cut := f.tick()
		f.must(f.s.TouchDevice(f.ctx, "alice", "new", f.tick()), "touch new")
		f.must(f.s.TouchDevice(f.ctx, "bob", "old", f.now), "touch bob's old")
		n, err := f.s.ExpireDevices(f.ctx, cut)
		f.must(err, "expire devices")
		if n != 1 {
			f.Fatalf("expired %d devices, want 1", n)
		}
		f.noMQTTSession("alice", "old", f.now, "session of an expired device")
		f.mqttSession("alice", "new")
		f.mqttSession("bob", "old")
	}},
	{"mqtt/delete user removes sessions", func(f *fx) {
		f.user("alice")
		f.user("bob")
		f.session("a1", "alice", "phone")
		f.putMQTT(store.MQTTSession{User: "alice", Device: "phone", Subscriptions: []store.MQTTSubscription{{Filter: "t", QoS: 2}}})
		// A session of a device the store has no row for goes too.
		f.putMQTT(store.MQTTSession{User: "alice", Device: "unregistered"})
		f.putMQTT(store.MQTTSession{User: "bob", Device: "phone"})

		_, err := f.s.DeleteUser(f.ctx, "alice", f.tick())
		f.must(err, "delete user")
		f.noMQTTSession("alice", "phone", f.now, "session of a deleted user")
		f.noMQTTSession("alice", "unregistered", f.now, "unregistered device's session of a deleted user")
		f.mqttSession("bob", "phone")

		// No session comes back for a tombstone.
		f.putMQTT(store.MQTTSession{User: "alice", Device: "phone", Subscriptions: []store.MQTTSubscription{{Filter: "t", QoS: 2}}})
		f.noMQTTSession("alice", "phone", f.now, "session put after DeleteUser")
	}},
}
