package core

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Friends (docs/protocol.md §2.14). A friend request, its answer, its
// withdrawal and the end of a friendship are entries of kind
// protocol.KindFriend in the system conversations of both users, written
// by the store in the transaction that changes the state; the core
// dispatches them like any committed entry, so every device of both users
// gets them live, on resume, over every protocol. Requests are limited
// per user (Social.FriendRequestsPerHour); answering, withdrawing and
// unfriending spend the user's operation budget, listing their query
// budget.

// Social configures the social graph.
type Social struct {
	// FriendRequestsPerHour bounds the friend requests one user may make
	// (a token bucket holding an hour's worth); 0: no limit.
	FriendRequestsPerHour int
	// InboundDefault is who may send direct messages to a user who never
	// chose (protocol.Settings.Inbound): protocol.InboundAnyone ("" too)
	// or protocol.InboundFriends.
	InboundDefault string
}

// ErrAlreadyFriends refuses a friend request between friends (409,
// reason already_friends).
var ErrAlreadyFriends = errors.New("already friends")

// FriendPageMax is the largest page of a friends or requests list: 500
// entries of the longest ids and texts stay below a frame's 1 MiB.
const FriendPageMax = 500

// friends is the core's state of the social graph: the request budget and
// the inbound policy's caches.
type friends struct {
	requests *ratelimit.Limiter // nil: not limited
	perHour  int
	inbound  *inbound
}

func newFriends(c *Core, opt Social) *friends {
	f := &friends{inbound: newInbound(c, opt.InboundDefault), perHour: opt.FriendRequestsPerHour}
	if opt.FriendRequestsPerHour > 0 {
		f.requests = ratelimit.NewLimiter(float64(opt.FriendRequestsPerHour), time.Hour, opt.FriendRequestsPerHour, c.now)
	}
	return f
}

// checkFriendTarget checks the other user of a friend operation.
func checkFriendTarget(user, other string) error {
	if ValidateUserID(other) != nil {
		return badField("user", "is not a valid user id")
	}
	if other == user {
		return badField("user", "cannot be yourself")
	}
	return nil
}

// RequestFriend asks user to be id's user's friend, with an optional text
// (at most protocol.FriendTextMax bytes of UTF-8). An unknown, disabled or
// deleted user, and one who blocked id's user, are store.ErrNotFound
// alike; friends already, ErrAlreadyFriends. If user asked first, this
// accepts that request (protocol.FriendFriends); a repeat of a pending
// request changes nothing and stores no entry (protocol.FriendPending).
// Each call spends from the friend request budget, repeats included.
func (c *Core) RequestFriend(ctx context.Context, id Identity, user, text string) (protocol.FriendStatus, error) {
	if err := checkFriendTarget(id.User, user); err != nil {
		return protocol.FriendStatus{}, err
	}
	if len(text) > protocol.FriendTextMax || !utf8.ValidString(text) {
		return protocol.FriendStatus{}, badField("text", "must be at most %d bytes of UTF-8", protocol.FriendTextMax)
	}
	if err := c.allowFriendRequest(id.User); err != nil {
		return protocol.FriendStatus{}, err
	}
	if err := c.checkUserExists(ctx, user, "user"); err != nil {
		return protocol.FriendStatus{}, err
	}
	// A blocker asking the user they block is told to unblock first; the
	// store checks the other direction in its transaction.
	if err := c.directBlocked(ctx, id.User, user, "user", user); errors.Is(err, ErrBlocked) {
		return protocol.FriendStatus{}, err
	}
	ch, err := c.st.RequestFriend(ctx, id.User, user, text, c.now())
	if errors.Is(err, store.ErrExists) {
		return protocol.FriendStatus{}, fmt.Errorf("%w with %s", ErrAlreadyFriends, user)
	}
	return c.friendChanged(user, ch, err)
}

// allowFriendRequest takes a token from user's friend request bucket.
func (c *Core) allowFriendRequest(user string) error {
	l := c.friends.requests
	if l == nil {
		return nil
	}
	wait := l.Allow(user)
	if wait == 0 {
		return nil
	}
	c.metrics.RateLimited.WithLabelValues(ratelimit.LimitFriendRequests).Inc()
	return &ratelimit.Error{Limit: ratelimit.LimitFriendRequests, RetryAfter: wait,
		Msg: fmt.Sprintf("too many friend requests (at most %d per hour): retry after retry_after_ms", c.friends.perHour)}
}

// AnswerFriend accepts or declines user's pending request to id's user;
// store.ErrNotFound if there is none.
func (c *Core) AnswerFriend(ctx context.Context, id Identity, user string, accept bool) (protocol.FriendStatus, error) {
	if err := checkFriendTarget(id.User, user); err != nil {
		return protocol.FriendStatus{}, err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return protocol.FriendStatus{}, err
	}
	if accept {
		// No friendship across a block, whoever blocked whom (a request
		// made before the block is still pending): the blocker is told
		// to unblock first, the blocked user sees what answering a
		// request that does not exist gives.
		if err := c.directBlocked(ctx, id.User, user, "friend request from", user); err != nil {
			return protocol.FriendStatus{}, err
		}
	}
	ch, err := c.st.AnswerFriend(ctx, id.User, user, accept, c.now())
	return c.friendChanged(user, ch, err)
}

// WithdrawFriend withdraws id's user's pending request to user;
// store.ErrNotFound if there is none.
func (c *Core) WithdrawFriend(ctx context.Context, id Identity, user string) error {
	if err := checkFriendTarget(id.User, user); err != nil {
		return err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	ch, err := c.st.WithdrawFriend(ctx, id.User, user, c.now())
	_, err = c.friendChanged(user, ch, err)
	return err
}

// Unfriend ends the friendship of id's user and user; store.ErrNotFound
// if they are not friends. From then on the inbound policy no longer
// counts them as friends.
func (c *Core) Unfriend(ctx context.Context, id Identity, user string) error {
	if err := checkFriendTarget(id.User, user); err != nil {
		return err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	ch, err := c.st.RemoveFriend(ctx, id.User, user, c.now())
	// Forgotten whatever the outcome: a failed commit may have committed.
	c.friends.inbound.unfriended()
	_, err = c.friendChanged(user, ch, err)
	return err
}

// friendChanged dispatches the entries of a change and answers with the
// status it left.
func (c *Core) friendChanged(user string, ch store.FriendChange, err error) (protocol.FriendStatus, error) {
	if err != nil {
		return protocol.FriendStatus{}, fmt.Errorf("friend %s: %w", user, err)
	}
	if len(ch.Events) > 0 {
		evs := make([]*protocol.Message, len(ch.Events))
		for i := range ch.Events {
			evs[i] = &ch.Events[i]
		}
		c.committed(nil, evs...)
	}
	return protocol.FriendStatus{User: user, Status: ch.Status}, nil
}

// friendPage checks a list's after and limit (0: FriendPageMax).
func friendPage(after string, limit int) (int, error) {
	if err := afterUser(after); err != nil {
		return 0, err
	}
	return pageLimit(limit, FriendPageMax, FriendPageMax)
}

// Friends returns a page of user's friends ordered by id, after the id
// after (empty: from the start); limit 0 is FriendPageMax.
func (c *Core) Friends(ctx context.Context, user, after string, limit int) (protocol.FriendList, error) {
	limit, err := friendPage(after, limit)
	if err != nil {
		return protocol.FriendList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.FriendList{}, err
	}
	fs, err := c.st.Friends(ctx, user, after, limit+1)
	if err != nil {
		return protocol.FriendList{}, fmt.Errorf("friends: %w", err)
	}
	var l protocol.FriendList
	l.Friends, l.Next = keysetPage(fs, limit,
		func(f store.Friend) protocol.Friend { return protocol.Friend{User: f.User, Since: f.Since.UnixMilli()} },
		func(f store.Friend) string { return f.User })
	return l, nil
}

// FriendRequests returns a page of the pending requests to user
// (incoming) or from user, ordered by the other user's id, after the id
// after; limit 0 is FriendPageMax.
func (c *Core) FriendRequests(ctx context.Context, user string, incoming bool, after string, limit int) (protocol.PendingFriendList, error) {
	limit, err := friendPage(after, limit)
	if err != nil {
		return protocol.PendingFriendList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.PendingFriendList{}, err
	}
	rs, err := c.st.FriendRequests(ctx, user, incoming, after, limit+1)
	if err != nil {
		return protocol.PendingFriendList{}, fmt.Errorf("friend requests: %w", err)
	}
	var l protocol.PendingFriendList
	l.Requests, l.Next = keysetPage(rs, limit,
		func(r store.FriendRequest) protocol.PendingFriend {
			return protocol.PendingFriend{From: r.From, To: r.To, Text: r.Text, Time: r.CreatedAt.UnixMilli()}
		},
		func(r store.FriendRequest) string {
			if incoming {
				return r.From
			}
			return r.To
		})
	return l, nil
}
