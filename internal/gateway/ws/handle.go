package ws

import (
	"context"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// handle dispatches one request frame. Replies go through the client's
// queue, so they are ordered with the pushes around them.
func (s *session) handle(ctx context.Context, data []byte) {
	req, perr := decodeLimited(data, s.srv.opt.JSONMaxDepth)
	switch {
	case perr != nil:
	case req.Op == protocol.OpHello:
		perr = &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Field: "op", Message: "already authenticated"}
	case !knownOps[req.Op] && moreOps[req.Op] == nil:
		perr = &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Field: "op", Message: "unknown op " + quoteShort(req.Op)}
	}
	if perr != nil {
		s.refuse(req.ID, perr)
		return
	}
	s.errs = 0
	c := s.srv.core
	cl := s.cl
	var err error
	switch req.Op {
	case protocol.OpSend:
		err = s.send(ctx, req)
	case protocol.OpEdit:
		err = s.pipeline(req.ID, func() (*core.PendingSend, error) {
			return c.EditAsync(ctx, s.id, req.Conv, req.Target, req.ClientMsgID, req.Body)
		})
	case protocol.OpDelete:
		err = s.pipeline(req.ID, func() (*core.PendingSend, error) {
			return c.DeleteAsync(ctx, s.id, req.Conv, req.Target, req.ClientMsgID)
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
	default:
		err = moreOps[req.Op](s, ctx, &req)
	}
	if err != nil {
		cl.ReplyError(req.ID, err)
	}
}

// knownOps are the ops handle serves after hello.
var knownOps = map[string]bool{
	protocol.OpSend: true, protocol.OpEdit: true, protocol.OpDelete: true, protocol.OpAck: true,
	protocol.OpRead: true, protocol.OpTyping: true, protocol.OpResume: true, protocol.OpHistory: true,
	protocol.OpConvs: true, protocol.OpMembers: true, protocol.OpPresence: true, protocol.OpPing: true,
}

// refuse answers a malformed request frame (one a correct client never
// sends). After MaxConsecutiveErrors of them in a row the connection is
// closed with 1008; the last error reply may not be written before the
// close frame.
func (s *session) refuse(id string, perr *protocol.Error) {
	s.cl.Enqueue(&core.Event{Type: protocol.TypeError, ID: id, Err: perr})
	s.errs++
	if s.errs >= s.srv.opt.MaxConsecutiveErrors {
		s.srv.log.Debug("websocket closed after consecutive malformed frames", "remote", s.remote, "user", s.id.User, "errors", s.errs)
		s.cl.Close(int(websocket.StatusPolicyViolation), "too many consecutive malformed frames")
	}
}

// send queues the message for commit now (so a connection's sends keep
// their order) and answers when the commit is done.
func (s *session) send(ctx context.Context, req protocol.Request) error {
	if req.ClientMsgID == "" {
		return &core.FieldError{Field: "client_msg_id", Reason: "is required (a UUID chosen by the client)"}
	}
	return s.pipeline(req.ID, func() (*core.PendingSend, error) {
		return s.srv.core.SendAsync(ctx, s.id, core.SendRequest{Conv: req.Conv, To: req.To, ClientMsgID: req.ClientMsgID,
			ContentType: req.ContentType, Body: req.Body, Payload: req.Payload, Encrypted: req.Encrypted})
	})
}

// pipeline queues a commit from the read loop, so the connection's sends,
// edits and deletes commit in the order they were read, and answers with
// the acknowledgement when the commit is done. At most MaxInflight wait at
// once; past that the read loop waits (backpressure).
func (s *session) pipeline(id string, enqueue func() (*core.PendingSend, error)) error {
	s.inflight <- struct{}{}
	p, err := enqueue()
	if err != nil {
		<-s.inflight
		return err
	}
	go func() {
		defer func() { <-s.inflight }()
		ack, err := p.Wait()
		if err != nil {
			s.cl.ReplyError(id, err)
			return
		}
		s.cl.Reply(id, protocol.TypeAck, &ack)
	}()
	return nil
}

func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return "\"" + s + "\""
}
