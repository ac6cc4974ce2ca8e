package core

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// MaxFrameBytes is the largest frame this server writes (see the
// package-level MaxFrameBytes).
func (c *Core) MaxFrameBytes() int { return MaxFrameBytes(c.limits.MaxMessageBytes) }

// HistoryPageMax is the largest page a client may ask for.
func (c *Core) HistoryPageMax() int { return c.limits.HistoryPageMax }

// Conversations lists id's user's conversations, newest activity first.
func (c *Core) Conversations(ctx context.Context, user, cursor string, limit int) (protocol.ConversationList, error) {
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.ConversationList{}, err
	}
	if limit <= 0 || limit > c.limits.HistoryPageMax {
		limit = c.limits.HistoryPageMax
	}
	page, next, total, err := c.st.ListConversations(ctx, user, cursor, limit)
	if err != nil {
		return protocol.ConversationList{}, fmt.Errorf("list conversations: %w", err)
	}
	out := protocol.ConversationList{Conversations: make([]protocol.Conversation, 0, len(page)), TotalUnread: total, Next: next}
	size := 0
	for i, s := range page {
		// Each entry carries its last message: the list is bounded in
		// bytes like a page, ending early with the cursor of its last entry.
		size += summarySize(&s)
		if size > PageMaxBytes && i > 0 {
			out.Next = page[i-1].Cursor
			break
		}
		out.Conversations = append(out.Conversations, summaryToProtocol(s))
	}
	return out, nil
}

func summaryToProtocol(s store.Summary) protocol.Conversation {
	return protocol.Conversation{
		ID: s.ID, Kind: s.Kind, Name: s.Name, Peer: s.Peer, Role: s.Role,
		LastSeq: s.LastSeq, ReadSeq: max(s.ReadSeq, s.JoinedSeq), StartSeq: startSeq(s.JoinedSeq, s.PurgedSeq),
		Unread: s.Unread, UpdatedAt: s.UpdatedAt.UnixMilli(), MaxAge: maxAgeSeconds(s.MaxAge), LastMessage: s.Last,
	}
}

// startSeq is the first seq a member sees: after the one they joined at
// and after what retention deleted.
func startSeq(joined, purged uint64) uint64 { return max(joined, purged) + 1 }

// maxAgeSeconds is a conversation's own retention as the protocol gives it.
func maxAgeSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return max(int64(d/time.Second), 1)
}

// Conversation returns one of the user's conversations.
func (c *Core) Conversation(ctx context.Context, user, conv string) (protocol.Conversation, error) {
	if err := ValidateConvID(conv); err != nil {
		return protocol.Conversation{}, err
	}
	m, err := c.st.Member(ctx, conv, user)
	if err != nil {
		return protocol.Conversation{}, fmt.Errorf("conversation %s: %w", conv, err)
	}
	cv, err := c.st.Conversation(ctx, conv)
	if err != nil {
		return protocol.Conversation{}, fmt.Errorf("conversation %s: %w", conv, err)
	}
	read := max(m.ReadSeq, m.JoinedSeq)
	unread, err := c.st.Unread(ctx, conv, user, read)
	if err != nil {
		return protocol.Conversation{}, fmt.Errorf("unread: %w", err)
	}
	out := protocol.Conversation{ID: cv.ID, Kind: cv.Kind, Name: cv.Name, Role: m.Role, LastSeq: cv.LastSeq,
		ReadSeq: read, StartSeq: startSeq(m.JoinedSeq, cv.PurgedSeq), Unread: unread, UpdatedAt: cv.UpdatedAt.UnixMilli(),
		MaxAge: maxAgeSeconds(cv.MaxAge)}
	if peer, ok := c.directPeer(ctx, conv, user); ok {
		out.Peer = peer
	}
	last, err := c.st.Range(ctx, conv, out.StartSeq-1, 0, 1, false)
	if err != nil {
		return protocol.Conversation{}, fmt.Errorf("last message: %w", err)
	}
	if len(last) == 1 {
		out.LastMessage = &last[0]
	}
	return out, nil
}

// HistoryRequest pages a conversation. Before and After are nil when not
// given; with neither, History returns the newest page.
type HistoryRequest struct {
	Conv   string
	Before *uint64 // the newest entries with seq < *Before
	After  *uint64 // the oldest entries with seq > *After (0: from the start)
	Limit  int
}

// History returns a page of conv in ascending seq order, limited to what the
// user may see (messages after they joined) and what retention kept; the
// page's StartSeq says where that begins. A page holds at most Limit
// messages and at most PageMaxBytes of them encoded (at least one); More
// says whether further entries exist in the paging direction (older for
// Before and the newest page, newer for After). Before 0 or 1 names no
// seq below it: an empty page.
func (c *Core) History(ctx context.Context, user string, r HistoryRequest) (protocol.Page, error) {
	if err := ValidateConvID(r.Conv); err != nil {
		return protocol.Page{}, err
	}
	if r.Before != nil && r.After != nil {
		return protocol.Page{}, badField("before", "give either before or after, not both")
	}
	if r.Limit < 0 || r.Limit > c.limits.HistoryPageMax {
		return protocol.Page{}, badField("limit", "must be between 1 and %d", c.limits.HistoryPageMax)
	}
	if r.Limit == 0 {
		r.Limit = 50
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.Page{}, err
	}
	m, err := c.st.Member(ctx, r.Conv, user)
	if err != nil {
		return protocol.Page{}, fmt.Errorf("conversation %s: %w", r.Conv, err)
	}
	cv, err := c.st.Conversation(ctx, r.Conv)
	if err != nil {
		return protocol.Page{}, fmt.Errorf("conversation %s: %w", r.Conv, err)
	}
	page := protocol.Page{Conv: r.Conv, StartSeq: startSeq(m.JoinedSeq, cv.PurgedSeq), Messages: []protocol.Message{}}
	after := page.StartSeq - 1
	var before uint64 // 0: no upper bound
	switch {
	case r.After != nil:
		after = max(after, *r.After)
	case r.Before != nil:
		if *r.Before <= 1 || *r.Before <= page.StartSeq {
			return page, nil // nothing the user may see lies below it
		}
		before = *r.Before
	}
	asc := r.After != nil
	msgs, err := c.st.Range(ctx, r.Conv, after, before, r.Limit+1, asc)
	if err != nil {
		return protocol.Page{}, fmt.Errorf("history: %w", err)
	}
	if len(msgs) > r.Limit {
		page.More = true
		msgs = msgs[:r.Limit]
	}
	if n := pageBudget(msgs); n < len(msgs) {
		// In either direction the messages nearest the starting point
		// stay: Range returned them first.
		page.More = true
		msgs = msgs[:n]
	}
	if !asc {
		for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
			msgs[i], msgs[j] = msgs[j], msgs[i]
		}
	}
	page.Messages = append(page.Messages, msgs...)
	return page, nil
}

// Members lists a conversation's members with their delivered and read
// positions (DESIGN.md §2.6: queried, not pushed, in groups).
func (c *Core) Members(ctx context.Context, user, conv string) ([]protocol.Member, error) {
	if err := ValidateConvID(conv); err != nil {
		return nil, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return nil, err
	}
	if _, err := c.st.Member(ctx, conv, user); err != nil {
		return nil, fmt.Errorf("conversation %s: %w", conv, err)
	}
	ms, err := c.st.Members(ctx, conv)
	if err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	out := make([]protocol.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, protocol.Member{User: m.User, Role: m.Role, JoinedSeq: m.JoinedSeq,
			ReadSeq: max(m.ReadSeq, m.JoinedSeq), DeliveredSeq: max(m.DeliveredSeq, m.JoinedSeq)})
	}
	return out, nil
}
