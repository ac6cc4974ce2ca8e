package ws

import (
	"context"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// The broadcast ops (docs/protocol.md §4.2): broadcast, and the ops of
// broadcast lists. Their arguments are in the request's data object.
func init() {
	registerOps(map[string]opHandler{
		protocol.OpBroadcast:            opBroadcast,
		protocol.OpBroadcastLists:       opBroadcastLists,
		protocol.OpBroadcastList:        opBroadcastList,
		protocol.OpBroadcastListCreate:  opBroadcastListCreate,
		protocol.OpBroadcastListRename:  opBroadcastListRename,
		protocol.OpBroadcastListChange:  opBroadcastListChange,
		protocol.OpBroadcastListMembers: opBroadcastListMembers,
		protocol.OpBroadcastListDelete:  opBroadcastListDelete,
	})
}

// opBroadcast checks the recipients and stores the copies off the read
// loop, taking one of the connection's in-flight slots, and answers with the
// result once they are committed. Checking a thousand recipients and
// opening their conversations takes a while: done in the read loop it would
// hold up the connection's other requests and the pongs that keep it open.
// So a broadcast is not ordered with the connection's sends: one sent after
// it may be stored first.
func opBroadcast(s *session, ctx context.Context, req *protocol.Request) error {
	var a protocol.BroadcastRequest
	if err := decodeData(req, &a); err != nil {
		return err
	}
	s.inflight <- struct{}{}
	go func() {
		defer func() { <-s.inflight }()
		p, err := s.srv.core.BroadcastAsync(ctx, s.id, a)
		var res protocol.BroadcastResult
		if err == nil {
			res, err = p.Wait()
		}
		if err != nil {
			s.cl.ReplyError(req.ID, err)
			return
		}
		s.cl.Reply(req.ID, protocol.TypeBroadcast, &res)
	}()
	return nil
}

// listArgs name a list.
type listArgs struct {
	List string `json:"list"`
}

func opBroadcastLists(s *session, ctx context.Context, req *protocol.Request) error {
	var a pageArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	p, err := s.srv.core.BroadcastLists(ctx, s.id.User, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeBroadcastLists, &p)
	return nil
}

func opBroadcastList(s *session, ctx context.Context, req *protocol.Request) error {
	var a listArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyList(req)(s.srv.core.BroadcastList(ctx, s.id.User, a.List))
}

func opBroadcastListCreate(s *session, ctx context.Context, req *protocol.Request) error {
	var a protocol.BroadcastListCreate
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyList(req)(s.srv.core.CreateBroadcastList(ctx, s.id.User, a))
}

func opBroadcastListRename(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		List string `json:"list"`
		Name string `json:"name"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyList(req)(s.srv.core.RenameBroadcastList(ctx, s.id.User, a.List, a.Name))
}

func opBroadcastListChange(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		List   string   `json:"list"`
		Add    []string `json:"add"`
		Remove []string `json:"remove"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	if len(a.Add) == 0 && len(a.Remove) == 0 {
		return &core.FieldError{Field: "data.add", Reason: "is required (or data.remove)"}
	}
	return s.replyList(req)(s.srv.core.ChangeBroadcastList(ctx, s.id.User, a.List,
		protocol.BroadcastListChange{Add: a.Add, Remove: a.Remove}))
}

func opBroadcastListMembers(s *session, ctx context.Context, req *protocol.Request) error {
	var a struct {
		List  string `json:"list"`
		After string `json:"after"`
		Limit int    `json:"limit"`
	}
	if err := decodeData(req, &a); err != nil {
		return err
	}
	p, err := s.srv.core.BroadcastMembers(ctx, s.id.User, a.List, a.After, a.Limit)
	if err != nil {
		return err
	}
	s.cl.Reply(req.ID, protocol.TypeBroadcastListMembers, &p)
	return nil
}

func opBroadcastListDelete(s *session, ctx context.Context, req *protocol.Request) error {
	var a listArgs
	if err := decodeData(req, &a); err != nil {
		return err
	}
	return s.replyOK(req, s.srv.core.DeleteBroadcastList(ctx, s.id.User, a.List))
}

// replyList returns a function that answers with a list, unless err.
func (s *session) replyList(req *protocol.Request) func(protocol.BroadcastList, error) error {
	return func(l protocol.BroadcastList, err error) error {
		if err != nil {
			return err
		}
		s.cl.Reply(req.ID, protocol.TypeBroadcastList, &l)
		return nil
	}
}
