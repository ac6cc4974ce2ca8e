package core

import (
	"maps"
	"reflect"
	"testing"
	"time"
)

// TestMQTTSessionsRole: the MQTT gateway's session state goes through the
// core: a saved session loads as saved until it expires, a delete (or a
// clean start) leaves none, and NewestSeqs names the newest seq of each
// conversation of the user.
func TestMQTTSessionsRole(t *testing.T) {
	e := newCoreEnv(t, Retention{})
	id := Identity{User: "alice", Device: "phone"}
	if _, found, err := e.c.LoadMQTTSession(e.ctx, id); err != nil || found {
		t.Fatalf("before any save: found %v, err %v", found, err)
	}
	want := MQTTSession{Subscriptions: []MQTTSubscription{{Filter: "IMS/alice/Inbox/#", QoS: 1}, {Filter: "IMS/alice/Inbox/Error", QoS: 0}},
		ExpiresAt: e.clock().Add(time.Minute)}
	if err := e.c.SaveMQTTSession(e.ctx, id, want); err != nil {
		t.Fatal(err)
	}
	got, found, err := e.c.LoadMQTTSession(e.ctx, id)
	if err != nil || !found || !reflect.DeepEqual(got.Subscriptions, want.Subscriptions) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("loaded %+v (found %v, err %v), want %+v", got, found, err, want)
	}
	if _, found, _ := e.c.LoadMQTTSession(e.ctx, Identity{User: "alice", Device: "laptop"}); found {
		t.Fatal("another device's session was found")
	}
	e.advance(time.Minute)
	if _, found, err := e.c.LoadMQTTSession(e.ctx, id); err != nil || found {
		t.Fatalf("expired: found %v, err %v", found, err)
	}

	if err := e.c.SaveMQTTSession(e.ctx, id, MQTTSession{}); err != nil {
		t.Fatal(err)
	}
	if got, found, err := e.c.LoadMQTTSession(e.ctx, id); err != nil || !found || got.Subscriptions != nil || !got.ExpiresAt.IsZero() {
		t.Fatalf("an empty session: %+v, found %v, err %v", got, found, err)
	}
	if err := e.c.DeleteMQTTSession(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.c.DeleteMQTTSession(e.ctx, id); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
	if _, found, err := e.c.LoadMQTTSession(e.ctx, id); err != nil || found {
		t.Fatalf("deleted: found %v, err %v", found, err)
	}

	if seqs, err := e.c.NewestSeqs(e.ctx, "alice"); err != nil || len(seqs) != 0 {
		t.Fatalf("no conversations yet: %v, %v", seqs, err)
	}
	e.send("bob", "", "alice")
	last := e.send("bob", "", "alice")
	g, err := e.c.CreateGroup(e.ctx, Identity{User: "carol", Device: "d"}, "g", []string{"alice"})
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := e.c.NewestSeqs(e.ctx, "alice")
	if want := map[string]uint64{last.Conv: last.Seq, g.ID: g.LastSeq}; err != nil || !maps.Equal(seqs, want) {
		t.Fatalf("newest seqs %v (err %v), want %v", seqs, err, want)
	}
}
