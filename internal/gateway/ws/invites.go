package ws

import (
	"context"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// The ops of group invitations, invite links, join requests and group
// settings (docs/protocol.md §4.2), and group_create, which invites.
// Their arguments are in the request's data object.
func init() {
	registerOps(map[string]opHandler{
		protocol.OpGroupCreate:   opGroupCreate,
		protocol.OpInvite:        opInvite,
		protocol.OpInviteAnswer:  opInviteAnswer,
		protocol.OpInviteRevoke:  opInviteRevoke,
		protocol.OpInvites:       opInvites,
		protocol.OpLinkCreate:    opLinkCreate,
		protocol.OpLinkRevoke:    opLinkRevoke,
		protocol.OpLinks:         opLinks,
		protocol.OpJoin:          opJoin,
		protocol.OpJoinRequests:  opJoinRequests,
		protocol.OpJoinAnswer:    opJoinAnswer,
		protocol.OpGroupSettings: opGroupSettings,
	})
}

func opGroupCreate(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
		Invite  []string `json:"invite"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	c, err := s.srv.core.CreateGroup(ctx, s.id, a.Name, a.Members, a.Invite...)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeConversation, &c)
	return nil
}

func opInvite(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Conv  string   `json:"conv"`
		Users []string `json:"users"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	r, err := s.srv.core.Invite(ctx, s.id, a.Conv, a.Users)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeInvited, &r)
	return nil
}

// replyJoined answers an acceptance or approval with the Ack of the joined
// entry, a decline or denial with ok.
func (s *session) replyJoined(req *protocol.Request, joined bool, ack protocol.Ack, err error) error {
	if err != nil || !joined {
		return s.replyOK(req, err)
	}
	s.cl.Reply(req.ID, protocol.TypeAck, &ack)
	return nil
}

func opInviteAnswer(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Conv   string `json:"conv"`
		Accept *bool  `json:"accept"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	if a.Accept == nil {
		return &core.FieldError{Field: "data.accept", Reason: "is required: true accepts, false declines"}
	}
	ack, err := s.srv.core.AnswerInvite(ctx, s.id, a.Conv, *a.Accept)
	return s.replyJoined(req, *a.Accept, ack, err)
}

// convUserArgs name a group and a user.
type convUserArgs struct {
	Conv string `json:"conv"`
	User string `json:"user"`
}

func opInviteRevoke(s *session, ctx context.Context, req *protocol.Request) error {
	var a convUserArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.RevokeInvite(ctx, s.id, a.Conv, a.User))
}

// convPageArgs page a list, of a group if Conv is set.
type convPageArgs struct {
	Conv  string `json:"conv"`
	After string `json:"after"`
	Limit int    `json:"limit"`
}

func opInvites(s *session, ctx context.Context, req *protocol.Request) error {
	var a convPageArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	var l protocol.InvitationList
	var err error
	if a.Conv != "" {
		l, err = s.srv.core.GroupInvites(ctx, s.id.User, a.Conv, a.After, a.Limit)
	} else {
		l, err = s.srv.core.UserInvites(ctx, s.id.User, a.After, a.Limit)
	}
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeInvites, &l)
	return nil
}

func opLinkCreate(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Conv      string `json:"conv"`
		ExpiresIn int64  `json:"expires_in"`
		MaxUses   int    `json:"max_uses"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	l, err := s.srv.core.CreateLink(ctx, s.id, a.Conv, core.LinkTTLSeconds(a.ExpiresIn), a.MaxUses)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeLink, &l)
	return nil
}

func opLinkRevoke(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Conv  string `json:"conv"`
		Token string `json:"token"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.RevokeLink(ctx, s.id, a.Conv, a.Token))
}

// convArgs name a group.
type convArgs struct {
	Conv string `json:"conv"`
}

func opLinks(s *session, ctx context.Context, req *protocol.Request) error {
	var a convArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	l, err := s.srv.core.Links(ctx, s.id.User, a.Conv)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeLinks, &l)
	return nil
}

func opJoin(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Token string `json:"token"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	r, err := s.srv.core.Join(ctx, s.id, a.Token)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeJoin, &r)
	return nil
}

func opJoinRequests(s *session, ctx context.Context, req *protocol.Request) error {
	var a convPageArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	l, err := s.srv.core.JoinRequests(ctx, s.id.User, a.Conv, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeJoinRequests, &l)
	return nil
}

func opJoinAnswer(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Conv    string `json:"conv"`
		User    string `json:"user"`
		Approve *bool  `json:"approve"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	if a.Approve == nil {
		return &core.FieldError{Field: "data.approve", Reason: "is required: true approves, false denies"}
	}
	ack, err := s.srv.core.AnswerJoinRequest(ctx, s.id, a.Conv, a.User, *a.Approve)
	return s.replyJoined(req, *a.Approve, ack, err)
}

func opGroupSettings(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Conv         string `json:"conv"`
		JoinApproval *bool  `json:"join_approval"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	var st protocol.GroupSettings
	var err error
	if a.JoinApproval == nil {
		st, err = s.srv.core.GroupSettings(ctx, s.id.User, a.Conv)
	} else {
		st, err = s.srv.core.UpdateGroupSettings(ctx, s.id, a.Conv, core.GroupSettingsUpdate{JoinApproval: a.JoinApproval})
	}
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeGroupSettings, &st)
	return nil
}
