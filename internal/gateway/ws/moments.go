package ws

import (
	"context"

	"github.com/parley-im/parley/protocol"
)

// The ops of follows and moments (docs/protocol.md §4.2): follow,
// unfollow, remove_follower, followers, following, moment_post,
// moment_get, moment_delete, moment_feed, moments, moment_comment,
// moment_uncomment, moment_comments, moment_like and moment_likes. Their
// arguments are in the request's data object. New moments of followed
// users arrive as moment pushes (core.fanoutMoment).
func init() {
	registerOps(map[string]opHandler{
		protocol.OpFollow:          opFollow,
		protocol.OpUnfollow:        opUnfollow,
		protocol.OpRemoveFollower:  opRemoveFollower,
		protocol.OpFollowers:       opFollowers,
		protocol.OpFollowing:       opFollowing,
		protocol.OpMomentPost:      opMomentPost,
		protocol.OpMomentGet:       opMomentGet,
		protocol.OpMomentDelete:    opMomentDelete,
		protocol.OpMomentFeed:      opMomentFeed,
		protocol.OpMoments:         opMoments,
		protocol.OpMomentComment:   opMomentComment,
		protocol.OpMomentUncomment: opMomentUncomment,
		protocol.OpMomentComments:  opMomentComments,
		protocol.OpMomentLike:      opMomentLike,
		protocol.OpMomentLikes:     opMomentLikes,
	})
}

// userArgs name the other user of a follow op.
type userArgs struct {
	User string `json:"user"`
}

func opFollow(s *session, ctx context.Context, req *protocol.Request) error {
	var a userArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.Follow(ctx, s.id, a.User))
}

func opUnfollow(s *session, ctx context.Context, req *protocol.Request) error {
	var a userArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.Unfollow(ctx, s.id, a.User))
}

func opRemoveFollower(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		User   string `json:"user"`
		Notify bool   `json:"notify"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.RemoveFollower(ctx, s.id, a.User, a.Notify))
}

func opFollowers(s *session, ctx context.Context, req *protocol.Request) error {
	return s.followList(ctx, req, s.srv.core.Followers)
}

func opFollowing(s *session, ctx context.Context, req *protocol.Request) error {
	return s.followList(ctx, req, s.srv.core.Following)
}

func (s *session) followList(ctx context.Context, req *protocol.Request,
	list func(ctx context.Context, user, after string, limit int) (protocol.FollowList, error)) error {
	var a pageArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	l, err := list(ctx, s.id.User, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeFollows, &l)
	return nil
}

func opMomentPost(s *session, ctx context.Context, req *protocol.Request) error {
	var p protocol.MomentPost
	if err := decodeData(req, &p); err != nil {
		return err
	}
	m, err := s.srv.core.PostMoment(ctx, s.id, p)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeMoment, &m)
	return nil
}

// momentArgs name a moment.
type momentArgs struct {
	Moment int64 `json:"moment"`
}

func opMomentGet(s *session, ctx context.Context, req *protocol.Request) error {
	var a momentArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	m, err := s.srv.core.Moment(ctx, s.id.User, a.Moment)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeMoment, &m)
	return nil
}

func opMomentDelete(s *session, ctx context.Context, req *protocol.Request) error {
	var a momentArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.DeleteMoment(ctx, s.id, a.Moment))
}

// momentPageArgs page moments.
type momentPageArgs struct {
	Cursor string `json:"cursor"`
	Limit  int    `json:"limit"`
}

func opMomentFeed(s *session, ctx context.Context, req *protocol.Request) error {
	var a momentPageArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	p, err := s.srv.core.Feed(ctx, s.id.User, a.Cursor, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeMoments, &p)
	return nil
}

func opMoments(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		User   string `json:"user"`
		Cursor string `json:"cursor"`
		Limit  int    `json:"limit"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	if a.User == "" {
		a.User = s.id.User
	}
	p, err := s.srv.core.UserMoments(ctx, s.id.User, a.User, a.Cursor, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeMoments, &p)
	return nil
}

func opMomentComment(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Moment int64  `json:"moment"`
		Text   string `json:"text"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	c, err := s.srv.core.Comment(ctx, s.id, a.Moment, a.Text)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeMomentComment, &c)
	return nil
}

func opMomentUncomment(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Moment  int64 `json:"moment"`
		Comment int64 `json:"comment"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.DeleteComment(ctx, s.id, a.Moment, a.Comment))
}

func opMomentComments(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Moment int64 `json:"moment"`
		After  int64 `json:"after"`
		Limit  int   `json:"limit"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	p, err := s.srv.core.Comments(ctx, s.id.User, a.Moment, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeMomentComments, &p)
	return nil
}

func opMomentLike(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Moment int64 `json:"moment"`
		Like   *bool `json:"like"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	like := a.Like == nil || *a.Like
	return s.replyOK(req, s.srv.core.Like(ctx, s.id, a.Moment, like))
}

func opMomentLikes(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		Moment int64  `json:"moment"`
		After  string `json:"after"`
		Limit  int    `json:"limit"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	l, err := s.srv.core.Likes(ctx, s.id.User, a.Moment, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeMomentLikes, &l)
	return nil
}
