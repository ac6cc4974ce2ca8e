package ws

import (
	"context"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// The friend and settings ops (docs/protocol.md §4.2): friend_request,
// friend_answer, friend_withdraw, unfriend, friends, friend_requests and
// settings. Their arguments are in the request's data object.
func init() {
	registerOps(map[string]opHandler{
		protocol.OpFriendRequest:  opFriendRequest,
		protocol.OpFriendAnswer:   opFriendAnswer,
		protocol.OpFriendWithdraw: opFriendWithdraw,
		protocol.OpUnfriend:       opUnfriend,
		protocol.OpFriends:        opFriends,
		protocol.OpFriendRequests: opFriendRequests,
		protocol.OpSettings:       opSettings,
	})
}

// friendArgs name the other user of a friend op.
type friendArgs struct {
	User string `json:"user"`
}

func opFriendRequest(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		User string `json:"user"`
		Text string `json:"text"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	st, err := s.srv.core.RequestFriend(ctx, s.id, a.User, a.Text)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeFriend, &st)
	return nil
}

func opFriendAnswer(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		User   string `json:"user"`
		Accept *bool  `json:"accept"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	if a.Accept == nil {
		return &core.FieldError{Field: "data.accept", Reason: "is required: true accepts, false declines"}
	}
	st, err := s.srv.core.AnswerFriend(ctx, s.id, a.User, *a.Accept)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeFriend, &st)
	return nil
}

func opFriendWithdraw(s *session, ctx context.Context, req *protocol.Request) error {
	var a friendArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.WithdrawFriend(ctx, s.id, a.User))
}

func opUnfriend(s *session, ctx context.Context, req *protocol.Request) error {
	var a friendArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.Unfriend(ctx, s.id, a.User))
}

// replyOK answers ok, if the request has an id, unless err.
func (s *session) replyOK(req *protocol.Request, err error) error {
	if err == nil && req.ID != "" {
		s.cl.Reply(req.ID, protocol.TypeOK, nil)
	}
	return err
}

// pageArgs page a list.
type pageArgs struct {
	After string `json:"after"`
	Limit int    `json:"limit"`
}

func opFriends(s *session, ctx context.Context, req *protocol.Request) error {
	var a pageArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	l, err := s.srv.core.Friends(ctx, s.id.User, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeFriends, &l)
	return nil
}

func opFriendRequests(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Direction string `json:"direction"`
		After     string `json:"after"`
		Limit     int    `json:"limit"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	incoming, err := direction(a.Direction)
	if err != nil {
		return err
	}
	l, err := s.srv.core.FriendRequests(ctx, s.id.User, incoming, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeFriendRequests, &l)
	return nil
}

// direction reads a friend_requests direction: "in" (or "") or "out".
func direction(d string) (incoming bool, err error) {
	switch d {
	case "", "in":
		return true, nil
	case "out":
		return false, nil
	}
	return false, &core.FieldError{Field: "data.direction", Reason: `must be "in" or "out"`}
}

// opSettings reads the user's settings, or changes those data names.
func opSettings(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Inbound        *string `json:"inbound"`
		PresenceHidden *bool   `json:"presence_hidden"`
		GroupAdd       *string `json:"group_add"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	var st protocol.Settings
	var err error
	if a.Inbound == nil && a.PresenceHidden == nil && a.GroupAdd == nil {
		st, err = s.srv.core.Settings(ctx, s.id.User)
	} else {
		st, err = s.srv.core.UpdateSettings(ctx, s.id, core.SettingsUpdate{Inbound: a.Inbound, PresenceHidden: a.PresenceHidden, GroupAdd: a.GroupAdd})
	}
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeSettings, &st)
	return nil
}
