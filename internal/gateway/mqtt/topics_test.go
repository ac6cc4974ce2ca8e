package mqtt

import (
	"strings"
	"testing"
)

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"IMS/alice/Inbox/#", "IMS/alice/Inbox/Msg/d_x", true},
		{"IMS/alice/Inbox/#", "IMS/alice/Inbox", true}, // "#" matches the parent level
		{"IMS/alice/Inbox/#", "IMS/alice/Inbox/", true},
		{"IMS/alice/Inbox/#", "IMS/alice/Inboxes/x", false},
		{"IMS/alice/Inbox/#", "IMS/alice", false},
		{"IMS/+/Inbox/#", "IMS/bob/Inbox/Msg/x", true},
		{"IMS/+/Inbox/#", "IMS/bob/Outbox/Msg/x", false},
		{"IMS/alice/Inbox/Msg/+", "IMS/alice/Inbox/Msg/d_x", true},
		{"IMS/alice/Inbox/Msg/+", "IMS/alice/Inbox/Msg/d_x/y", false},
		{"IMS/alice/Inbox/Msg/+", "IMS/alice/Inbox/Msg", false},
		{"sport/tennis/player1/#", "sport/tennis/player1", true},
		{"sport/#", "sport", true},
		{"#", "a/b/c", true},
		{"#", "", true},
		{"+", "a", true},
		{"+", "", true},
		{"+", "a/b", false},
		{"+", "/a", false},
		{"/+", "/a", true},
		{"+/+", "/", true},
		{"+/#", "", true},
		{"a/+/#", "a", false},
		{"a/#/b", "a/x/b", false}, // "#" only last
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/b", "a/b", true},
		{"a/b", "A/b", false},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
		// Topics starting with "$" never match a filter starting with a
		// wildcard [MQTT-4.7.2-1].
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"+", "$SYS", false},
		{"$SYS/#", "$SYS/x", true},
		{"$SYS/+", "$SYS/x", true},
	} {
		if got := matches(c.filter, c.topic); got != c.want {
			t.Errorf("matches(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

// routeCase is a topic and the route publishRoute must find for it.
type routeCase struct {
	topic  string
	kind   int
	target string
}

// checkRoutes checks publishRoute(user, topic) for each case.
func checkRoutes(t *testing.T, sc scheme, user string, cases []routeCase) {
	t.Helper()
	for _, c := range cases {
		r := sc.publishRoute(user, c.topic)
		if r.kind != c.kind || r.target != c.target {
			t.Errorf("publishRoute(%s, %q) = %+v, want kind %d target %q", user, c.topic, r, c.kind, c.target)
		}
	}
}

func TestPublishRoute(t *testing.T) {
	sc := scheme{root: "IMS"}
	checkRoutes(t, sc, "alice", []routeCase{
		{"IMS/p2p/bob", routeDirect, "bob"},
		{"IMS/p2p/alice", routeDirect, "alice"},
		{"IMS/g_abc/alice", routeGroup, "g_abc"},
		{"IMS/alice/Ack/d_x", routeAck, "d_x"},
		{"IMS/alice/Read/g_abc", routeRead, "g_abc"},
		{"IMS/alice/Typing/d_x", routeTyping, "d_x"},
		// Not the user's, or not a chat topic.
		{"IMS/g_abc/bob", routeNone, ""},
		{"IMS/bob/Ack/d_x", routeNone, ""},
		{"IMS/bob/Read/d_x", routeNone, ""},
		{"IMS/alice/Inbox/Msg/d_x", routeNone, ""},
		{"IMS/alice/Other/d_x", routeNone, ""},
		{"IMS/alice/Ack/", routeNone, ""},
		{"IMS/alice/Ack/d_x/y", routeNone, ""},
		{"IMS/p2p/", routeNone, ""},
		{"IMS/p2p/bob/x", routeNone, ""},
		{"IMS/p2p", routeNone, ""},
		{"IMS/alice", routeMoment, "alice"}, // a moment (moments.go)
		{"IMS/bob", routeNone, ""},
		{"IMS", routeNone, ""},
		{"", routeNone, ""},
		{"ims/p2p/bob", routeNone, ""},
		{"X/IMS/p2p/bob", routeNone, ""},
		{"/IMS/p2p/bob", routeNone, ""},
		{"$SYS/p2p/bob", routeNone, ""},
		{"IMS/g_abc/alice/x", routeNone, ""},
		// Wildcards and U+0000 are no topic names (a will's topic is not
		// checked by the engine).
		{"IMS/p2p/+", routeNone, ""},
		{"IMS/p2p/#", routeNone, ""},
		{"IMS/g_+/alice", routeNone, ""},
		{"IMS/alice/Ack/#", routeNone, ""},
		{"IMS/p2p/b\x00b", routeNone, ""},
	})
	// Deep topics are refused.
	if r := sc.publishRoute("alice", "IMS/p2p/bob"+strings.Repeat("/x", 8)); r.kind != routeNone {
		t.Errorf("deep topic: %+v", r)
	}
}

func TestCheckFilter(t *testing.T) {
	sc := scheme{root: "IMS"}
	for _, c := range []struct {
		filter  string
		verdict int
		group   string
	}{
		{"IMS/alice/Inbox/#", subOK, ""},
		{"IMS/alice/Inbox/Msg/+", subOK, ""},
		{"IMS/alice/#", subOK, ""},
		{"IMS/alice", subOK, ""},
		{"IMS/alice/" + strings.Repeat("x/", 5) + "x", subOK, ""}, // 8 levels
		{"IMS/alice/" + strings.Repeat("x/", 6) + "x", subTooDeep, ""},
		{"IMS/alice/" + strings.Repeat("l/", 997) + "x", subTooDeep, ""},
		{"IMS/g_abc/#", subNeedsMem, "g_abc"},
		{"IMS/g_abc/bob", subNeedsMem, "g_abc"},
		{"IMS/g_abc", subNeedsMem, "g_abc"},
		{"#", subRefused, ""},
		{"+/#", subRefused, ""},
		{"+", subRefused, ""},
		{"IMS/#", subRefused, ""},
		{"IMS/+", subRefused, ""},
		{"IMS/+/Inbox/#", subRefused, ""},
		{"IMS/+/#", subRefused, ""},
		{"$share/g/IMS/#", subRefused, ""},
		{"$share/g/IMS/alice/Inbox/#", subRefused, ""},
		{"$SYS/#", subRefused, ""},
		{"IMS/bob/Inbox/#", subRefused, ""},
		{"IMS/bob/#", subRefused, ""},
		{"IMS/p2p/#", subRefused, ""},
		{"IMS/p2p/alice", subRefused, ""},
		{"IMS", subRefused, ""},
		{"ims/alice/#", subRefused, ""},
		{"", subRefused, ""},
		{"/IMS/alice/#", subRefused, ""},
		{"IMS/alicex/#", subRefused, ""},
		{"IMS//#", subRefused, ""},
		{"IMS/System/beijing", subNeedsTag, "beijing"},
		{"IMS/System/北京", subNeedsTag, "北京"},
		{"IMS/System/+", subRefused, ""},
		{"IMS/System/#", subRefused, ""},
		{"IMS/System", subRefused, ""},
		{"IMS/System/beijing/x", subRefused, ""},
		{"IMS/System/bei$jing", subRefused, ""},
		{"IMS/System/", subRefused, ""},
		// Another user's moments, exactly.
		{"IMS/bob", subNeedsFollow, "bob"},
		{"IMS/p2p", subRefused, ""},
		{"IMS/admin", subRefused, ""},
		{"IMS/", subRefused, ""},
	} {
		v, g := sc.checkFilter("alice", c.filter)
		if v != c.verdict || g != c.group {
			t.Errorf("checkFilter(alice, %q) = %d %q, want %d %q", c.filter, v, g, c.verdict, c.group)
		}
	}
}

func TestValidName(t *testing.T) {
	for s, want := range map[string]bool{
		"alice": true, "chat@@@laptop": true, "": true, "ü-ß.1": true,
		"a+b": false, "a#b": false, "a/b": false, "a\x00b": false, "+": false, "#": false, "/": false,
	} {
		if validName(s) != want {
			t.Errorf("validName(%q) = %v, want %v", s, !want, want)
		}
	}
}

func TestWellFormedFilter(t *testing.T) {
	for f, want := range map[string]bool{
		"IMS/alice/Inbox/#": true, "IMS/+/Inbox/+": true, "#": true, "+": true, "+/+": true, "/": true, "a//b": true,
		"$share/g/IMS/#": true, "IMS/alice": true,
		"": false, "IMS/alice/Inbox#": false, "IMS/alice/In+box/#": false, "IMS/alice+/#": false, "IMS/#/x": false,
		"##": false, "++": false, "#/": false, "a/#/": false, "+#": false, "a/b#": false,
	} {
		if got := wellFormedFilter(f); got != want {
			t.Errorf("wellFormedFilter(%q) = %v, want %v", f, got, want)
		}
	}
}
