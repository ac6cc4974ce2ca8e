package mqtt

import (
	"strings"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// System notices over MQTT (seed 001 scene 5, docs/mqtt.md "System
// notices"). A notice reaches each user of its audience in the user's
// system conversation, on ROOT/<self>/Inbox/Msg/<s_conv> like every entry,
// without any subscription but the inbox. A client may also subscribe to
// ROOT/System/<value>, for a tag value it carries (under any key; the
// subscription is refused otherwise, and wildcards there are refused): a
// notice addressed to that value (protocol.SocialEvent.Tags) then goes to
// that topic instead of the inbox, as a group message goes to a group
// topic (each message reaches a connection once), at the subscription's
// QoS, live and on resume. Only the server publishes there.

// systemLevel is the second level of the system topics.
const systemLevel = "System"

// systemTopic is where a notice addressed to value is delivered to a
// connection subscribed to it.
func (s scheme) systemTopic(value string) string { return s.root + "/" + systemLevel + "/" + value }

// systemFilter returns the tag value of a filter ROOT/System/<value> (the
// root and second level checked by the caller): the value, if the filter
// names one literal level that is a valid tag value, else "".
func systemFilter(lv []string) string {
	if len(lv) != 3 || core.ValidateTagValue(lv[2]) != nil {
		return ""
	}
	return lv[2]
}

// systemRoute is the topic and QoS of a notice m on this connection if
// the connection subscribed to the system topic of one of the values it
// is addressed to.
func (c *conn) systemRoute(m *protocol.Message) (topic string, qos byte, ok bool) {
	if m.Social == nil || m.Social.Notice == "" || m.Social.Tags == "" || m.From != protocol.SystemSender ||
		core.ConvKind(m.Conv) != protocol.ConvSystem {
		return "", 0, false
	}
	for _, v := range strings.Fields(m.Social.Tags) {
		t := c.s.scheme.systemTopic(v)
		if q, ok := c.subscribed(t); ok {
			return t, q, true
		}
	}
	return "", 0, false
}
