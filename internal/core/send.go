package core

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// SendRequest is a message to send. Exactly one of Conv and To is set.
type SendRequest struct {
	Conv        string
	To          string // a user: the direct conversation with them
	ClientMsgID string // optional here; gateways that require it check it
	// PacketKey, if set, is a second idempotency key the sender holds
	// until it releases it (ReleasePacketKey): an MQTT QoS 2 packet id.
	// While it is held, a send with it returns the acknowledgement of the
	// message holding it and stores nothing. Never part of the message.
	PacketKey   string
	ContentType string
	Body        string
	Payload     json.RawMessage
	Encrypted   bool
}

// maxClientMsgID is the longest client message id.
const maxClientMsgID = 64

func validClientMsgID(s string) error {
	if len(s) > maxClientMsgID {
		return badField("client_msg_id", "is longer than %d bytes", maxClientMsgID)
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == '.' || ch == ':') {
			return badField("client_msg_id", "may only contain letters, digits and - _ . :")
		}
	}
	return nil
}

func (c *Core) checkBody(body string, payload json.RawMessage, contentType string) error {
	if len(body)+len(payload) > c.limits.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(body)+len(payload), c.limits.MaxMessageBytes)
	}
	if !utf8.ValidString(body) {
		return badField("body", "is not valid UTF-8")
	}
	if len(payload) > 0 && !json.Valid(payload) {
		return badField("payload", "is not valid JSON")
	}
	if len(contentType) > 128 || !utf8.ValidString(contentType) {
		return badField("content_type", "is longer than 128 bytes or not UTF-8")
	}
	return nil
}

// Send stores a message from id and returns its acknowledgement once it is
// durable; then fans it out. A repeated (sender, client message id) returns
// the original acknowledgement with Duplicate set and stores nothing.
func (c *Core) Send(ctx context.Context, id Identity, r SendRequest) (protocol.Ack, error) {
	return waitPending(c.SendAsync(ctx, id, r))
}

// PendingSend is a send queued for commit; Wait returns its acknowledgement.
type PendingSend struct {
	c     *Core
	p     *pendingAppend
	proto string // the request's protocol, for the metrics
	conv  string // the conversation it was sent to
}

// Wait blocks until the send is committed (or failed) and returns the
// acknowledgement. It must be called exactly once. A client message id
// (or packet key) that names a message of another conversation is
// ErrClientMsgIDInUse: not a retry of this send, and nothing is stored.
func (p *PendingSend) Wait() (protocol.Ack, error) {
	res, err := p.p.wait()
	if err != nil {
		return protocol.Ack{}, err
	}
	if r := res[0]; r.Err == nil && r.Duplicate && r.Message.Conv != p.conv {
		return protocol.Ack{}, fmt.Errorf("%w (sent to %s)", ErrClientMsgIDInUse, p.conv)
	}
	return p.c.afterAppend(p.proto, res[0], nil)
}

// SendAsync validates and authorizes a send and queues it for commit
// without waiting. Sends queued one after another by one goroutine are
// committed in that order, so a connection can pipeline its sends and keep
// their order.
func (c *Core) SendAsync(ctx context.Context, id Identity, r SendRequest) (*PendingSend, error) {
	if err := validClientMsgID(r.ClientMsgID); err != nil {
		return nil, err
	}
	if len(r.PacketKey) > maxClientMsgID {
		return nil, badField("packet_key", "is longer than %d bytes", maxClientMsgID)
	}
	if err := c.checkBody(r.Body, r.Payload, r.ContentType); err != nil {
		return nil, err
	}
	if r.Body == "" && len(r.Payload) == 0 {
		return nil, badField("body", "is empty (and so is payload)")
	}
	if err := c.allowSend(id.User); err != nil {
		return nil, err
	}
	conv, err := c.resolveConv(ctx, id.User, r.Conv, r.To)
	if err != nil {
		return nil, err
	}
	if err := c.checkInbound(ctx, id.User, conv); err != nil {
		return nil, err
	}
	ct := r.ContentType
	if ct == "" {
		ct = "text/plain"
	}
	return c.enqueueSend(ctx, store.Append{
		Conv: conv, Sender: id.User, ClientMsgID: r.ClientMsgID, PacketKey: r.PacketKey, Kind: protocol.KindMessage,
		ContentType: ct, Body: r.Body, Payload: r.Payload, Encrypted: r.Encrypted,
	})
}

// allowSend takes a token from user's send bucket (rate_limits.sends_*):
// sends, edits and deletes from every connection of the user and from HTTP
// share it. It is checked after the request's own fields and before the
// conversation is looked up or created, so a refused send touches nothing
// and is not stored; the refusal says when to retry.
func (c *Core) allowSend(user string) error {
	if c.sendLimit == nil {
		return nil
	}
	wait := c.sendLimit.Allow(user)
	if wait == 0 {
		return nil
	}
	c.metrics.RateLimited.WithLabelValues(ratelimit.LimitSend).Inc()
	return &ratelimit.Error{Limit: ratelimit.LimitSend, RetryAfter: wait,
		Msg: fmt.Sprintf("too many sends (at most %d per second, bursts of %d): nothing was stored; retry after retry_after_ms with the same client_msg_id",
			c.rateLimits.SendsPerSecond, max(1, c.rateLimits.SendBurst))}
}

// afterAppend turns a commit result into an acknowledgement (the committer
// has fanned the message out already).
func (c *Core) afterAppend(proto string, res store.AppendResult, err error) (protocol.Ack, error) {
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return protocol.Ack{}, err
	}
	m := res.Message
	ack := protocol.Ack{Conv: m.Conv, Seq: m.Seq, ID: m.ID, ClientMsgID: m.ClientMsgID, Time: m.Time, Duplicate: res.Duplicate}
	if res.Duplicate {
		c.metrics.Duplicates.Inc()
		return ack, nil
	}
	c.metrics.Sends.WithLabelValues(proto).Inc()
	return ack, nil
}

// resolveConv returns the conversation a send goes to, checking that the
// sender is a member. To creates the direct conversation on first use.
func (c *Core) resolveConv(ctx context.Context, sender, conv, to string) (string, error) {
	switch {
	case conv != "" && to != "":
		return "", badField("to", "give either conv or to, not both")
	case to != "":
		if err := ValidateUserID(to); err != nil {
			return "", badField("to", "is not a valid user id")
		}
		return c.Direct(ctx, sender, to)
	case conv != "":
		if err := ValidateConvID(conv); err != nil {
			return "", err
		}
		if ConvKind(conv) == protocol.ConvSystem {
			return "", fmt.Errorf("conversation %s is a system conversation, written by the server only: %w", conv, store.ErrForbidden)
		}
		ok, err := c.members.isMember(ctx, conv, sender)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("conversation %s: %w", conv, store.ErrNotFound)
		}
		if err := c.directBlockedIn(ctx, sender, conv); err != nil {
			return "", err
		}
		return conv, nil
	default:
		return "", badField("conv", "is required (or to)")
	}
}

// Direct returns the id of the direct conversation of user and peer,
// creating it if needed. The peer must exist.
func (c *Core) Direct(ctx context.Context, user, peer string) (string, error) {
	if user == peer {
		return "", badField("to", "cannot start a conversation with yourself")
	}
	if err := c.directBlocked(ctx, user, peer, "user", peer); err != nil {
		return "", err
	}
	conv := DirectID(user, peer)
	if ok, err := c.members.isMember(ctx, conv, user); err == nil && ok {
		return conv, nil
	}
	u, err := c.st.User(ctx, peer)
	if err != nil {
		return "", fmt.Errorf("user %s: %w", peer, err)
	}
	if u.Disabled {
		return "", fmt.Errorf("user %s: %w", peer, store.ErrNotFound)
	}
	// A new conversation is a first message's way in (inbound.go).
	if err := c.friends.inbound.allow(ctx, peer, user); err != nil {
		return "", err
	}
	if _, err := c.st.EnsureDirect(ctx, conv, user, peer, c.now()); err != nil {
		return "", fmt.Errorf("create direct conversation: %w", err)
	}
	c.members.invalidate(conv)
	return conv, nil
}

// Edit replaces the body of the author's own message target in conv. The
// edit is an event with its own seq.
func (c *Core) Edit(ctx context.Context, id Identity, conv string, target uint64, clientMsgID, body string) (protocol.Ack, error) {
	return waitPending(c.EditAsync(ctx, id, conv, target, clientMsgID, body))
}

// EditAsync is Edit queued for commit without waiting (see SendAsync for
// the ordering this gives a connection).
func (c *Core) EditAsync(ctx context.Context, id Identity, conv string, target uint64, clientMsgID, body string) (*PendingSend, error) {
	if err := c.checkEditDelete(ctx, id, conv, target, clientMsgID); err != nil {
		return nil, err
	}
	if err := c.checkBody(body, nil, ""); err != nil {
		return nil, err
	}
	return c.enqueueSend(ctx, store.Append{Conv: conv, Sender: id.User, ClientMsgID: clientMsgID,
		Kind: protocol.KindEdit, Target: target, Body: body})
}

// Delete deletes the author's own message target in conv for everyone.
func (c *Core) Delete(ctx context.Context, id Identity, conv string, target uint64, clientMsgID string) (protocol.Ack, error) {
	return waitPending(c.DeleteAsync(ctx, id, conv, target, clientMsgID))
}

// DeleteAsync is Delete queued for commit without waiting.
func (c *Core) DeleteAsync(ctx context.Context, id Identity, conv string, target uint64, clientMsgID string) (*PendingSend, error) {
	if err := c.checkEditDelete(ctx, id, conv, target, clientMsgID); err != nil {
		return nil, err
	}
	return c.enqueueSend(ctx, store.Append{Conv: conv, Sender: id.User, ClientMsgID: clientMsgID,
		Kind: protocol.KindDelete, Target: target})
}

func (c *Core) enqueueSend(ctx context.Context, e store.Append) (*PendingSend, error) {
	p, err := c.commit.enqueue(ctx, e)
	if err != nil {
		return nil, err
	}
	return &PendingSend{c: c, p: p, proto: protocolOf(ctx), conv: e.Conv}, nil
}

func waitPending(p *PendingSend, err error) (protocol.Ack, error) {
	if err != nil {
		return protocol.Ack{}, err
	}
	return p.Wait()
}

func (c *Core) checkEditDelete(ctx context.Context, id Identity, conv string, target uint64, clientMsgID string) error {
	if clientMsgID == "" {
		return badField("client_msg_id", "is required, so that a retry is not stored twice")
	}
	if err := validClientMsgID(clientMsgID); err != nil {
		return err
	}
	if target == 0 {
		return badField("target", "is required (the seq of the message)")
	}
	if err := c.allowSend(id.User); err != nil {
		return err
	}
	_, err := c.resolveConv(ctx, id.User, conv, "")
	return err
}
