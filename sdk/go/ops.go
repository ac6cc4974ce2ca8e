package parley

import (
	"context"
	"encoding/json"

	"github.com/parley-im/parley/protocol"
)

// SendOptions describe a message to send. Set Conv, or To for the direct
// conversation with a user.
type SendOptions struct {
	Conv        string
	To          string
	Body        string
	ContentType string
	Payload     json.RawMessage
	Encrypted   bool
	// ClientMsgID identifies the message across retries; empty: generated.
	ClientMsgID string
}

// Send sends a message and returns the server's acknowledgement, given only
// once the message is durably stored. If the connection drops before the
// acknowledgement, Send retries on the next connection with the same client
// message id, so the message is stored once; a send refused by the server's
// rate limit (429, nothing stored) is sent again after the delay the server
// advised (retry_after_ms). It gives up when ctx ends.
func (c *Client) Send(ctx context.Context, m SendOptions) (protocol.Ack, error) {
	if m.ClientMsgID == "" {
		m.ClientMsgID = NewClientMsgID()
	}
	var ack protocol.Ack
	err := c.request(ctx, protocol.Request{Op: protocol.OpSend, Conv: m.Conv, To: m.To, ClientMsgID: m.ClientMsgID,
		Body: m.Body, ContentType: m.ContentType, Payload: m.Payload, Encrypted: m.Encrypted}, true, &ack)
	return ack, err
}

// Edit replaces the body of one of the user's messages (target is its seq).
func (c *Client) Edit(ctx context.Context, conv string, target uint64, body string) (protocol.Ack, error) {
	var ack protocol.Ack
	err := c.request(ctx, protocol.Request{Op: protocol.OpEdit, Conv: conv, Target: target, Body: body, ClientMsgID: NewClientMsgID()}, true, &ack)
	return ack, err
}

// Delete deletes one of the user's messages for everyone.
func (c *Client) Delete(ctx context.Context, conv string, target uint64) (protocol.Ack, error) {
	var ack protocol.Ack
	err := c.request(ctx, protocol.Request{Op: protocol.OpDelete, Conv: conv, Target: target, ClientMsgID: NewClientMsgID()}, true, &ack)
	return ack, err
}

// Ack acknowledges everything of conv up to seq (with ManualAck).
func (c *Client) Ack(ctx context.Context, conv string, seq uint64) error {
	c.traceAck(conv, seq)
	return c.request(ctx, protocol.Request{Op: protocol.OpAck, Conv: conv, Seq: seq}, true, nil)
}

// Read marks conv read up to seq; every device of the user gets the new
// unread counts.
func (c *Client) Read(ctx context.Context, conv string, seq uint64) (protocol.ReadState, error) {
	var st protocol.ReadState
	err := c.request(ctx, protocol.Request{Op: protocol.OpRead, Conv: conv, Seq: seq}, true, &st)
	return st, err
}

// Typing tells the other members that the user is typing in conv.
func (c *Client) Typing(ctx context.Context, conv string) error {
	return c.request(ctx, protocol.Request{Op: protocol.OpTyping, Conv: conv}, false, nil)
}

// HistoryOptions page a conversation: Before or After a seq (neither: the
// newest page; After Seq(0): from the start), at most Limit messages (the
// server's limits.history_page_max, 300 by default) and at most about a
// MiB of them (the page's More says whether more follow).
type HistoryOptions struct {
	Before, After *uint64 // nil: not given
	Limit         int
}

// Seq returns a pointer to n, for HistoryOptions.
func Seq(n uint64) *uint64 { return &n }

// History returns a page of conv in ascending seq order.
func (c *Client) History(ctx context.Context, conv string, h HistoryOptions) (protocol.Page, error) {
	var p protocol.Page
	err := c.request(ctx, protocol.Request{Op: protocol.OpHistory, Conv: conv, Before: h.Before, After: h.After, Limit: h.Limit}, true, &p)
	return p, err
}

// Conversations lists the user's conversations, newest activity first.
func (c *Client) Conversations(ctx context.Context, cursor string, limit int) (protocol.ConversationList, error) {
	var l protocol.ConversationList
	err := c.request(ctx, protocol.Request{Op: protocol.OpConvs, Cursor: cursor, Limit: limit}, true, &l)
	return l, err
}

// Members lists conv's members with their delivered and read positions.
func (c *Client) Members(ctx context.Context, conv string) ([]protocol.Member, error) {
	var ms []protocol.Member
	err := c.request(ctx, protocol.Request{Op: protocol.OpMembers, Conv: conv}, true, &ms)
	return ms, err
}

// Presence returns the presence of those of users whose presence the user
// may see: contacts (friends, co-members of small groups) who do not hide
// it and are not blocked either way; the others are left out.
func (c *Client) Presence(ctx context.Context, users ...string) ([]protocol.Presence, error) {
	var ps []protocol.Presence
	err := c.request(ctx, protocol.Request{Op: protocol.OpPresence, Users: users}, true, &ps)
	return ps, err
}
