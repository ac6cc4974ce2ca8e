package ws

import (
	"context"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// handle dispatches one request frame. Replies go through the client's
// queue, so they are ordered with the pushes around them.
func (s *session) handle(ctx context.Context, data []byte) {
	req, perr := decodeLimited(data, s.srv.opt.JSONMaxDepth)
	if perr != nil {
		s.cl.Enqueue(&core.Event{Type: protocol.TypeError, ID: req.ID, Err: perr})
		return
	}
	c := s.srv.core
	cl := s.cl
	var err error
	switch req.Op {
	case protocol.OpSend:
		err = s.send(ctx, req)
	case protocol.OpEdit, protocol.OpDelete:
		s.async(req.ID, func(ctx context.Context) (string, any, error) {
			var ack protocol.Ack
			var err error
			if req.Op == protocol.OpEdit {
				ack, err = c.Edit(ctx, s.id, req.Conv, req.Target, req.ClientMsgID, req.Body)
			} else {
				ack, err = c.Delete(ctx, s.id, req.Conv, req.Target, req.ClientMsgID)
			}
			return protocol.TypeAck, &ack, err
		})
	case protocol.OpAck:
		if err = c.Ack(ctx, s.id, req.Conv, req.Seq); err == nil && req.ID != "" {
			cl.Reply(req.ID, protocol.TypeOK, nil)
		}
	case protocol.OpRead:
		var st protocol.ReadState
		if st, err = c.Read(ctx, s.id, req.Conv, req.Seq); err == nil && req.ID != "" {
			cl.Reply(req.ID, protocol.TypeRead, &st)
		}
	case protocol.OpTyping:
		if err = c.Typing(ctx, s.id, req.Conv); err == nil && req.ID != "" {
			cl.Reply(req.ID, protocol.TypeOK, nil)
		}
	case protocol.OpResume:
		cl.Resume(req.ID, req.Positions)
	case protocol.OpHistory:
		var p protocol.Page
		if p, err = c.History(ctx, s.id.User, core.HistoryRequest{Conv: req.Conv, Before: req.Before, After: req.After, Limit: req.Limit}); err == nil {
			cl.Reply(req.ID, protocol.TypeHistory, &p)
		}
	case protocol.OpConvs:
		var l protocol.ConversationList
		if l, err = c.Conversations(ctx, s.id.User, req.Cursor, req.Limit); err == nil {
			cl.Reply(req.ID, protocol.TypeConvs, &l)
		}
	case protocol.OpMembers:
		var ms []protocol.Member
		if ms, err = c.Members(ctx, s.id.User, req.Conv); err == nil {
			cl.Reply(req.ID, protocol.TypeMembers, ms)
		}
	case protocol.OpPresence:
		var ps []protocol.Presence
		if ps, err = c.Presence(ctx, s.id.User, req.Users); err == nil {
			cl.Reply(req.ID, protocol.TypePresence, ps)
		}
	case protocol.OpPing:
		cl.Reply(req.ID, protocol.TypePong, nil)
	case protocol.OpHello:
		cl.Enqueue(&core.Event{Type: protocol.TypeError, ID: req.ID,
			Err: &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Field: "op", Message: "already authenticated"}})
	default:
		cl.Enqueue(&core.Event{Type: protocol.TypeError, ID: req.ID,
			Err: &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Field: "op", Message: "unknown op " + quoteShort(req.Op)}})
	}
	if err != nil {
		cl.ReplyError(req.ID, err)
	}
}

// send queues the message for commit now (so a connection's sends keep
// their order) and answers when the commit is done.
func (s *session) send(ctx context.Context, req protocol.Request) error {
	if req.ClientMsgID == "" {
		return &core.FieldError{Field: "client_msg_id", Reason: "is required (a UUID chosen by the client)"}
	}
	s.inflight <- struct{}{}
	p, err := s.srv.core.SendAsync(ctx, s.id, core.SendRequest{Conv: req.Conv, To: req.To, ClientMsgID: req.ClientMsgID,
		ContentType: req.ContentType, Body: req.Body, Payload: req.Payload, Encrypted: req.Encrypted})
	if err != nil {
		<-s.inflight
		return err
	}
	go func() {
		defer func() { <-s.inflight }()
		ack, err := p.Wait()
		if err != nil {
			s.cl.ReplyError(req.ID, err)
			return
		}
		s.cl.Reply(req.ID, protocol.TypeAck, &ack)
	}()
	return nil
}

// async runs a request that waits for a commit off the read loop, bounded
// by the in-flight limit.
func (s *session) async(id string, fn func(context.Context) (string, any, error)) {
	s.inflight <- struct{}{}
	go func() {
		defer func() { <-s.inflight }()
		typ, data, err := fn(s.srv.ctx)
		if err != nil {
			s.cl.ReplyError(id, err)
			return
		}
		s.cl.Reply(id, typ, data)
	}()
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return "\"" + s + "\""
}
