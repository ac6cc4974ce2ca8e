package mqtt

import (
	"strings"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Route kinds of a topic a client publishes to.
const (
	routeNone   = iota
	routeDirect // ROOT/p2p/<user>: a message to that user
	routeGroup  // ROOT/<group>/<self>: a message to the group
	// ROOT/<self>/Broadcast[/<list>]: one message to many (broadcast.go).
	routeBroadcast
	routeAck    // ROOT/<self>/Ack/<conv>: a delivery ack (payload: seq)
	routeRead   // ROOT/<self>/Read/<conv>: a read position (payload: seq)
	routeTyping // ROOT/<self>/Typing/<conv>: a typing indicator
	// ROOT/<user>/Inbox/Add/GFReq/<self>: a friend request to user;
	// ROOT/<user>/Inbox/Add/GFResp/<self>: the answer to user's request
	// (friends.go).
	routeFriendReq
	routeFriendResp
	routeMoment // ROOT/<self>: a moment of the user's (moments.go)
	// ROOT/<self>/Inbox/Add/GInv/<group>: the answer to an invitation
	// (invites.go).
	routeInviteAnswer
)

// maxTopicLevels bounds the levels of a topic name or filter in Parley's
// namespace (BAD_INPUTS.md).
const maxTopicLevels = 8

// route is what a publish topic asks for.
type route struct {
	kind   int
	target string // the user (routeDirect) or conversation
}

// scheme is the topic scheme under one root (docs/mqtt.md).
type scheme struct{ root string }

// publishRoute parses a topic that user publishes to. kind is routeNone for
// a topic the user may not publish to, and for one that is no topic name
// (wildcards, U+0000: the engine checks a PUBLISH's topic, not a will's).
func (s scheme) publishRoute(user, topic string) route {
	if strings.ContainsAny(topic, "+#\x00") {
		return route{}
	}
	lv := strings.Split(topic, "/")
	if len(lv) < 2 || len(lv) > maxTopicLevels || lv[0] != s.root {
		return route{}
	}
	switch {
	case len(lv) == 2 && lv[1] == user:
		return route{kind: routeMoment, target: user}
	case len(lv) >= 3 && lv[1] == user && lv[2] == broadcastLevel:
		return broadcastRoute(lv)
	case len(lv) == 3 && lv[1] == "p2p" && lv[2] != "":
		return route{kind: routeDirect, target: lv[2]}
	case len(lv) == 3 && core.ConvKind(lv[1]) == protocol.ConvGroup && lv[2] == user:
		return route{kind: routeGroup, target: lv[1]}
	case len(lv) == 6 && lv[4] == inviteLevel:
		r, _ := inviteAnswerRoute(user, lv)
		return r
	case len(lv) == 6 && lv[2] == "Inbox" && lv[3] == "Add" && lv[5] == user && lv[1] != "":
		// Seed 001 scene 1: into the other user's inbox, as oneself.
		switch lv[4] {
		case friendReqLevel:
			return route{kind: routeFriendReq, target: lv[1]}
		case friendRespLevel:
			return route{kind: routeFriendResp, target: lv[1]}
		}
	case len(lv) == 4 && lv[1] == user && lv[3] != "":
		switch lv[2] {
		case "Ack":
			return route{kind: routeAck, target: lv[3]}
		case "Read":
			return route{kind: routeRead, target: lv[3]}
		case "Typing":
			return route{kind: routeTyping, target: lv[3]}
		}
	}
	return route{}
}

// Subscription checks.
const (
	subOK       = iota
	subRefused  // not the user's: 0x87 (3.1.1: 0x80)
	subTooDeep  // more than maxTopicLevels levels: 0x8F (3.1.1: 0x80)
	subNeedsMem // a group filter: allowed if the user is a member of group
	subNeedsTag // ROOT/System/<value>: allowed if the user carries a tag valued group (system.go)
	// ROOT/<user>, exactly: another user's moments, allowed while the user
	// follows them (moments.go)
	subNeedsFollow
)

// checkFilter decides whether user may subscribe to filter (a filter the
// library has already found well formed). For subNeedsMem, group names the
// group whose membership decides; for subNeedsTag, the tag value; for
// subNeedsFollow, the user whose moments the filter names.
func (s scheme) checkFilter(user, filter string) (verdict int, group string) {
	lv := strings.Split(filter, "/")
	if len(lv) > maxTopicLevels {
		return subTooDeep, ""
	}
	// The second level names whose topics these are and must be literal:
	// "#", "+/#", "IMS/#", "IMS/+/Inbox/#", "$share/...", "$SYS/#" all fail
	// here or on the root.
	if len(lv) < 2 || lv[0] != s.root {
		return subRefused, ""
	}
	switch {
	case lv[1] == user:
		return subOK, ""
	case core.ConvKind(lv[1]) == protocol.ConvGroup:
		return subNeedsMem, lv[1]
	case lv[1] == systemLevel && systemFilter(lv) != "":
		return subNeedsTag, lv[2]
	case len(lv) == 2 && core.ValidateUserID(lv[1]) == nil:
		return subNeedsFollow, lv[1]
	}
	return subRefused, ""
}

// inboxTopic is where events of kind (Msg, Receipt, Read, Typing, Presence,
// Error) about key (a conversation or user) reach user.
func (s scheme) inboxTopic(user, kind, key string) string {
	if key == "" {
		return s.root + "/" + user + "/Inbox/" + kind
	}
	return s.root + "/" + user + "/Inbox/" + kind + "/" + key
}

// groupTopic is where a message of sender in group is delivered to a
// connection subscribed to the group's topics.
func (s scheme) groupTopic(group, sender string) string {
	return s.root + "/" + group + "/" + sender
}

// matches reports whether topic matches filter (MQTT 3.1.1 §4.7, v5 §4.7):
// "+" matches one level, a trailing "#" the parent level and any below.
// Topics starting with "$" never match a filter starting with a wildcard.
func matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return !fmore
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// "a/#" matches "a".
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// wellFormedFilter reports whether filter is not empty and each "+" or "#"
// in it is a whole level, "#" only the last [MQTT-4.7.1-2] [MQTT-4.7.1-3].
func wellFormedFilter(filter string) bool {
	if filter == "" {
		return false
	}
	lv := strings.Split(filter, "/")
	for i, l := range lv {
		if strings.ContainsAny(l, "+#") && l != "+" && (l != "#" || i != len(lv)-1) {
			return false
		}
	}
	return true
}

// validName reports whether a client id or user name may be used: no
// "+", "#", "/" (topic syntax) and no U+0000 (CVE-2017-7650 class).
func validName(s string) bool {
	return !strings.ContainsAny(s, "+#/\x00")
}
