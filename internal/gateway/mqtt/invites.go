package mqtt

import (
	"context"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Group invitations over MQTT (seed 001 scene 3, docs/mqtt.md 5.6). An
// invitation to a group reaches the invitee's connections on
// ROOT/<self>/Inbox/Add/GInv/<group>, and so does its revocation; the
// invitee answers by publishing {"accept": true} or {"accept": false} to
// that same topic (the user named second is the authenticated one, as on
// every topic of the user's own). A decline reaches the inviter on
// ROOT/<inviter>/Inbox/Add/GInvResp/<invitee> (an acceptance is the group's
// joined entry). A join request reaches each owner and admin on
// ROOT/<admin>/Inbox/Add/GJoinReq/<requester>, and its outcome the
// requester on ROOT/<self>/Inbox/Add/GJoinResp/<group>. The other
// invitation entries (a user's own accepted, declined and join_requested,
// the outcome as the other owners and admins see it) arrive on the system
// conversation's inbox topic, ROOT/<self>/Inbox/Msg/<s_conv>, like every
// entry without a topic of its own.

// The topic levels of invitations and join requests.
const (
	inviteLevel      = "GInv"
	inviteRespLevel  = "GInvResp"
	joinReqLevel     = "GJoinReq"
	joinRespLevel    = "GJoinResp"
	addLevels        = "/Inbox/Add/"
	inviteTopicLevel = 6 // ROOT/<self>/Inbox/Add/GInv/<group>
)

// inviteTopic is where an invite entry m, by someone else, reaches user
// (see above); "" for the user's own entries and those without a topic of
// their own.
func (s scheme) inviteTopic(user string, m *protocol.Message) string {
	se := m.Social
	if m.Kind != protocol.KindInvite || se == nil || se.Group == "" || m.From == user {
		return ""
	}
	switch se.Action {
	case protocol.InviteInvited, protocol.InviteRevoked:
		return s.root + "/" + user + addLevels + inviteLevel + "/" + se.Group
	case protocol.InviteDeclined:
		return s.root + "/" + user + addLevels + inviteRespLevel + "/" + m.From
	case protocol.InviteJoinRequest:
		return s.root + "/" + user + addLevels + joinReqLevel + "/" + m.From
	case protocol.InviteJoinApproved, protocol.InviteJoinDenied:
		if se.User == m.From { // the requester's copy: it names who answered
			return s.root + "/" + user + addLevels + joinRespLevel + "/" + se.Group
		}
	}
	return ""
}

// inviteAnswerRoute recognizes ROOT/<user>/Inbox/Add/GInv/<group>, where
// user answers an invitation to group.
func inviteAnswerRoute(user string, lv []string) (route, bool) {
	if len(lv) == inviteTopicLevel && lv[1] == user && lv[2] == "Inbox" && lv[3] == "Add" && lv[4] == inviteLevel &&
		core.ConvKind(lv[5]) == protocol.ConvGroup {
		return route{kind: routeInviteAnswer, target: lv[5]}, true
	}
	return route{}, false
}

// publishInviteAnswer handles a publish on the user's GInv topic of group
// r.target: the answer to the user's invitation, {"accept": true} or
// {"accept": false} (or the bare true or false). An acceptance's PUBACK
// (QoS 1) is written once the user is a member, and carries what the
// acknowledgement of the group's joined entry says (MQTT 5).
func (c *conn) publishInviteAnswer(ctx context.Context, pk packets.Packet, r route) error {
	accept, ferr := parseFriendAnswer(pk.Payload)
	if ferr != nil {
		return &core.FieldError{Field: ferr.field, Reason: ferr.msg}
	}
	ack, err := c.s.core.AnswerInvite(ctx, c.id, r.target, accept)
	if err == nil && accept && pk.FixedHeader.Qos > 0 {
		c.mu.Lock()
		c.acks[pk.PacketID] = ack
		c.mu.Unlock()
	}
	return err
}
