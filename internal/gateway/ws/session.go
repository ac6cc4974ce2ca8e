package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/gateway/cork"
	"github.com/parley-im/parley/internal/gateway/jsonlimit"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

// session is one WebSocket connection from upgrade to close.
type session struct {
	srv      *Server
	conn     *websocket.Conn
	guard    *frameGuard  // the client's stream, read by conn
	cork     *cork.Writer // what conn writes goes through it
	remote   string
	t        *transport
	cl       *core.Client
	id       core.Identity
	inflight chan struct{}
	// errs counts malformed request frames in a row (read loop only).
	errs int
}

func (s *session) serve() {
	s.t = newTransport(s.conn, s.cork)
	defer func() {
		s.t.wait() // let a close frame with our code reach the client
		s.conn.CloseNow()
	}()
	ctx, cancel := context.WithCancel(core.WithProtocol(s.srv.ctx, core.ProtoWebSocket))
	defer cancel()
	if !s.hello(ctx) {
		return
	}
	defer s.cl.Close(int(websocket.StatusNormalClosure), "")
	defer s.startPinger(ctx)()
	for {
		typ, data, err := s.conn.Read(ctx)
		if err != nil {
			s.closeFor(err)
			return
		}
		if !s.checkFrame(typ, data) {
			return
		}
		s.handle(ctx, data)
	}
}

// checkFrame enforces text frames of valid UTF-8 (RFC 6455 §8.1).
func (s *session) checkFrame(typ websocket.MessageType, data []byte) bool {
	if typ != websocket.MessageText {
		s.closeWith(int(websocket.StatusUnsupportedData), "binary frames are not supported; send JSON text")
		return false
	}
	if !utf8.Valid(data) {
		s.closeWith(int(websocket.StatusInvalidFramePayloadData), "invalid UTF-8 in text frame")
		return false
	}
	return true
}

func (s *session) closeWith(code int, reason string) {
	if s.cl != nil {
		s.cl.Close(code, reason)
		return
	}
	s.t.Close(code, reason)
}

// closeFor closes after a read error: a too-large frame gets 1009, a
// client's close or a dropped socket just ends the session. Unless the
// client closed cleanly the connection has failed: the library (or
// frameGuard) refused what the client sent, and nothing after it is read,
// not even a close frame; the close frame with the code is still sent.
func (s *session) closeFor(err error) {
	var ce websocket.CloseError
	var fe *frameError
	if !errors.As(err, &ce) && s.guard != nil {
		s.guard.stop()
	}
	switch {
	case errors.As(err, &fe):
		s.srv.log.Debug("websocket frame refused", "remote", s.remote, "user", s.id.User, "code", int(fe.Code), "reason", fe.Reason)
		s.closeWith(int(fe.Code), fe.Reason)
	case errors.As(err, &ce):
		s.closeWith(int(websocket.StatusNormalClosure), "")
	case errors.Is(err, websocket.ErrMessageTooBig):
		s.closeWith(int(websocket.StatusMessageTooBig), "frame too large")
	default:
		s.closeWith(protocol.CloseShutdown, "connection ended")
	}
}

// writeNow writes a frame directly; used before the client is attached.
func (s *session) writeNow(b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.conn.Write(ctx, websocket.MessageText, b)
}

// hello waits for the first frame, which must authenticate within the
// deadline, and attaches the connection to the core.
func (s *session) hello(ctx context.Context) bool {
	timer := time.AfterFunc(s.srv.opt.AuthDeadline, func() {
		s.t.Close(protocol.CloseAuthTimeout, "no hello within the deadline")
	})
	typ, data, err := s.conn.Read(ctx)
	stopped := timer.Stop()
	if err != nil || !stopped {
		if err != nil {
			s.closeFor(err)
		}
		return false
	}
	if !s.checkFrame(typ, data) {
		return false
	}
	req, perr := decodeLimited(data, s.srv.opt.JSONMaxDepth)
	if perr != nil {
		s.writeNow(protocol.MarshalError(req.ID, perr))
		s.t.Close(protocol.CloseAuthFailed, "first frame must be a valid hello")
		return false
	}
	if req.Op != protocol.OpHello {
		s.writeNow(protocol.MarshalError(req.ID, &protocol.Error{Code: protocol.CodeNotReady, Reason: "hello_required", Message: "the first frame must be hello"}))
		s.t.Close(protocol.CloseAuthFailed, "first frame must be hello")
		return false
	}
	if req.Version != protocol.Version {
		s.writeNow(protocol.MarshalError(req.ID, &protocol.Error{Code: protocol.CodeUnsupported, Reason: "unsupported_version",
			Message: fmt.Sprintf("this server speaks protocol version %d", protocol.Version)}))
		s.t.Close(protocol.CloseBadProtocol, "unsupported protocol version")
		return false
	}
	actx, cancel := context.WithTimeout(ctx, s.srv.opt.AuthDeadline)
	id, err := s.srv.core.Authenticate(actx, req.Token, req.Device)
	cancel()
	if err != nil {
		s.writeNow(protocol.MarshalError(req.ID, core.ToProtocol(err)))
		if errors.Is(err, core.ErrTooManyDevices) {
			s.t.Close(protocol.CloseTooManyDevices, "too many devices: revoke one first")
			return false
		}
		s.t.Close(protocol.CloseAuthFailed, "authentication failed")
		return false
	}
	cl, err := s.srv.core.Attach(id, s.t)
	if err != nil {
		// A per-user limit, known only now: tell the client when to
		// retry, and close in the reconnect range (a limit is temporary).
		code, reason := protocol.CloseTooManyConnections, "too many connections for this user"
		var le *ratelimit.Error
		if errors.As(err, &le) && le.Limit == ratelimit.LimitFlapping {
			code, reason = protocol.CloseFlapping, "device connects too often: banned for a while"
		}
		s.srv.log.Debug("websocket connection refused", "remote", s.remote, "user", id.User, "device", id.Device, "err", err)
		s.writeNow(protocol.MarshalError(req.ID, core.ToProtocol(err)))
		s.t.Close(code, reason)
		return false
	}
	s.id, s.cl = id, cl
	s.cl.Reply(req.ID, protocol.TypeOK, &protocol.Hello{User: id.User, Device: id.Device, Version: protocol.Version,
		Server: s.srv.opt.ServerVersion, MaxFrameBytes: s.srv.core.MaxFrameBytes()})
	return true
}

// startPinger pings the client every PingInterval; a missing pong closes
// the connection so that a vanished client is noticed (and shown offline).
// It runs on a timer, not a goroutine of its own: an idle connection holds
// no pinger stack between pings. The returned function stops it.
func (s *session) startPinger(ctx context.Context) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock() // the callback's Reset must see t assigned
	defer mu.Unlock()
	t = time.AfterFunc(s.srv.opt.PingInterval, func() {
		pctx, cancel := context.WithTimeout(ctx, s.srv.opt.PongTimeout)
		err := s.conn.Ping(pctx)
		cancel()
		if err != nil {
			select {
			case <-s.cl.Done():
			case <-ctx.Done():
			default:
				s.cl.Close(protocol.ClosePingTimeout, "no pong in time")
			}
			return
		}
		mu.Lock()
		if !stopped {
			t.Reset(s.srv.opt.PingInterval)
		}
		mu.Unlock()
	})
	return func() {
		mu.Lock()
		stopped = true
		t.Stop()
		mu.Unlock()
	}
}

// requestFields are the keys of a request frame (protocol.Request's JSON
// names), none of which may appear twice in one frame.
var requestFields = func() []string {
	names := jsonlimit.FieldsOf(protocol.Request{})
	if len(names) > jsonlimit.MaxFields {
		panic("ws: protocol.Request has more fields than jsonlimit.Check can watch")
	}
	return names
}()

// decodeLimited refuses a frame nested deeper than maxDepth, then decodes
// it, then refuses a frame that names one field twice (docs/protocol.md,
// "Parsing rules": encoding/json would keep the last value silently, and
// another parser on the way might keep the first).
func decodeLimited(data []byte, maxDepth int) (protocol.Request, *protocol.Error) {
	checkErr := jsonlimit.Check(data, maxDepth, requestFields)
	if errors.Is(checkErr, jsonlimit.ErrTooDeep) {
		return protocol.Request{}, &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request",
			Message: fmt.Sprintf("JSON nested deeper than %d levels", maxDepth)}
	}
	req, perr := decode(data)
	if perr != nil {
		return req, perr
	}
	var dup *jsonlimit.DuplicateKeyError
	if errors.As(checkErr, &dup) {
		return req, &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Field: dup.Field,
			Message: fmt.Sprintf("%s appears more than once (keys match case-insensitively)", dup.Field)}
	}
	return req, nil
}

// decode parses a request frame. A type error names the field.
func decode(data []byte) (protocol.Request, *protocol.Error) {
	var req protocol.Request
	if err := json.Unmarshal(data, &req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return req, &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Field: te.Field,
				Message: fmt.Sprintf("%s must be %s", te.Field, te.Type)}
		}
		return req, &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Message: "malformed JSON frame"}
	}
	if req.Op == "" {
		return req, &protocol.Error{Code: protocol.CodeBadRequest, Reason: "bad_request", Field: "op", Message: "op is required"}
	}
	return req, nil
}
