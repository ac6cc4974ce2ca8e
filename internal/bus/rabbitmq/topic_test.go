package rabbitmq

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/bus/bustest"
	"github.com/parley-im/parley/internal/core"
)

func TestRoutingKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ topic, key string }{
		{"c.g_abc", "c.g_abc"},
		{"u.alice", "u.alice"},
		{"u.a.b", "u.a%2Eb"},
		{"u.*", "u.%2A"},
		{"u.#", "u.%23"},
		{"u.a%2Eb", "u.a%252Eb"},
		{"u.ü.x*#%", "u.ü%2Ex%2A%23%25"},
		{"u.", "u."},
		{"", ""},
		{"nodot", "nodot"},
		{"*.x", "%2A.x"},
		{".", "."},
		{"..", ".%2E"},
	} {
		key, err := routingKey(c.topic)
		if err != nil || key != c.key {
			t.Errorf("routingKey(%q) = %q, %v; want %q", c.topic, key, err, c.key)
			continue
		}
		back, err := topicOf(key)
		if err != nil || back != c.topic {
			t.Errorf("topicOf(%q) = %q, %v; want %q", key, back, err, c.topic)
		}
	}
	// The longest user id, all dots, still fits a routing key.
	if _, err := routingKey("u." + strings.Repeat(".", core.MaxIDLen)); err != nil {
		t.Errorf("a %d-byte id of dots: %v", core.MaxIDLen, err)
	}
	if _, err := routingKey("u." + strings.Repeat("*", 100)); !errors.Is(err, ErrBadTopic) {
		t.Errorf("a 302-byte key: err %v, want ErrBadTopic", err)
	}
	for _, key := range []string{"u.a.b", "u.*", "u.#", "u.%2", "u.%41", "%2E", "a%2Eb.c"} {
		if topic, err := topicOf(key); err == nil {
			t.Errorf("topicOf(%q) = %q, want an error (routingKey never makes it)", key, topic)
		}
	}
}

// FuzzRoutingKey: every topic's key decodes back to it, has at most one
// '.', no '*' or '#', and distinct topics have distinct keys (which the
// round trip implies).
func FuzzRoutingKey(f *testing.F) {
	for _, s := range []string{"c.g_x", "u.a.b", "u.*", "u.#", "u.%2E", "", ".", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		key, err := routingKey(topic)
		if err != nil {
			if !errors.Is(err, ErrBadTopic) {
				t.Fatalf("routingKey(%q): %v", topic, err)
			}
			return
		}
		if strings.Count(key, ".") > 1 || strings.ContainsAny(key, "*#") || len(key) > MaxKeyLen {
			t.Fatalf("routingKey(%q) = %q: more than one word separator, a wildcard or too long", topic, key)
		}
		back, err := topicOf(key)
		if err != nil || back != topic {
			t.Fatalf("topicOf(routingKey(%q)) = %q, %v", topic, back, err)
		}
	})
}

// TestIDsCannotBreakRouting: user ids may hold '.', '*' and '%' (the core
// accepts them), which a topic exchange would read as word separators and
// wildcards. Through the broker, each node receives exactly the topics it
// subscribed, once each, whatever the ids look like.
func TestIDsCannotBreakRouting(t *testing.T) {
	p := "id" + strings.ReplaceAll(strings.TrimPrefix(bustest.Topic(""), "c."), "-", "")
	ids := []string{p + ".*", p + ".a", p + ".a.b", p + "%2Ea.b", p + "*", p + "%", p + ".zzz", p + ".a.b.c"}
	for _, id := range ids {
		if err := core.ValidateUserID(id); err != nil {
			t.Fatalf("core refuses the user id %q (%v): the test should use ids the core accepts", id, err)
		}
	}
	// Not a valid user id, but a topic of the same shape: '#' must not be a
	// wildcard either.
	hash := "u." + p + ".#"
	a := bustest.Start(t, factory)
	b := bustest.Start(t, factory)
	subsA := []string{"u." + p + ".*", hash, "u." + p + "*"}
	subsB := []string{"u." + p + ".a.b", "u." + p + "%2Ea.b", "u." + p + ".a", "u." + p + "%"}
	for _, topic := range subsA {
		a.Subscribe(t, topic)
	}
	for _, topic := range subsB {
		b.Subscribe(t, topic)
	}
	all := []string{hash}
	for _, id := range ids {
		all = append(all, "u."+id)
	}
	for _, topic := range all {
		a.Publish(t, topic, []byte(topic))
	}
	// Barriers through the other bus's queue: a's messages to b were
	// published before, on the same channel.
	for _, r := range []*bustest.Recorder{a, b} {
		topic := bustest.Topic("barrier")
		r.Subscribe(t, topic)
		a.Publish(t, topic, []byte("barrier"))
		r.WaitCount(t, topic, 1)
	}
	check := func(name string, r *bustest.Recorder, subs []string) {
		t.Helper()
		want := map[string]bool{}
		for _, s := range subs {
			want[s] = true
		}
		for _, topic := range all {
			got := r.Received(topic)
			switch {
			case want[topic] && (len(got) != 1 || string(got[0]) != topic):
				t.Errorf("node %s subscribed %q and received %q, want it once", name, topic, got)
			case !want[topic] && len(got) != 0:
				t.Errorf("node %s did not subscribe %q but received %d messages on it (an id was read as a wildcard or separator)", name, topic, len(got))
			}
		}
	}
	check("a", a, subsA)
	check("b", b, subsB)
	// The handler sees only subscribed topics whatever the broker routes
	// (Run filters), so look at what reached the queues: nothing beyond
	// the bindings.
	for name, r := range map[string]*bustest.Recorder{"a": a, "b": b} {
		if n := r.Bus.(*Bus).Discarded(); n != 0 {
			t.Errorf("node %s's queue received %d messages of topics it did not subscribe (a binding matched more than its topic)", name, n)
		}
	}
}
