package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Follows (docs/protocol.md, "Follows and moments"). A user follows others
// to see their moments: live (moments.go) and in the feed. Friends follow
// each other by default: the store makes both follows in the transaction
// that makes the friendship, and takes back those it made when the
// friendship ends (store.Follows; the triggers of schema version 9), so
// the friends code knows nothing of follows. A block removes the blocked
// user's follow of the blocker in the block's transaction the same way,
// and while either blocks the other, neither can follow the other.
// Whatever a follow table says, every read and push of a moment checks
// blocks again (Blocked, blockFilter), so a follow that raced with a block
// shows nothing.

// ErrTooManyFollows refuses a new follow beyond MomentOptions.FollowsPerUser
// (403, reason too_many_follows).
var ErrTooManyFollows = errors.New("too many follows")

// FollowPageMax is the largest page of a followers or following list.
const FollowPageMax = 500

func checkFollowTarget(user, other string) error {
	if ValidateUserID(other) != nil {
		return badField("user", "is not a valid user id")
	}
	if other == user {
		return badField("user", "cannot be yourself")
	}
	return nil
}

// Follow makes id's user follow user; following again changes nothing.
// An unknown, disabled or deleted user, and one who blocks id's user, are
// store.ErrNotFound alike; a user id's user blocks is ErrBlocked; a new
// follow beyond MomentOptions.FollowsPerUser is ErrTooManyFollows.
func (c *Core) Follow(ctx context.Context, id Identity, user string) error {
	if err := checkFollowTarget(id.User, user); err != nil {
		return err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	if err := c.checkUserExists(ctx, user, "user"); err != nil {
		return err
	}
	if err := c.directBlocked(ctx, id.User, user, "user", user); err != nil {
		return err
	}
	_, err := c.st.Follow(ctx, id.User, user, c.moments.opt.FollowsPerUser, c.now())
	switch {
	case errors.Is(err, store.ErrLimit):
		return fmt.Errorf("%w: at most %d", ErrTooManyFollows, c.moments.opt.FollowsPerUser)
	case err != nil:
		return fmt.Errorf("follow %s: %w", user, err)
	}
	return nil
}

// Unfollow ends id's user's follow of user; ending one that is not there
// changes nothing. From its return on, id's user receives none of user's
// moments live, on any protocol.
func (c *Core) Unfollow(ctx context.Context, id Identity, user string) error {
	if err := checkFollowTarget(id.User, user); err != nil {
		return err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	if _, err := c.st.Unfollow(ctx, id.User, user); err != nil {
		return fmt.Errorf("unfollow %s: %w", user, err)
	}
	return nil
}

// RemoveFollower ends user's follow of id's user; removing one who does
// not follow changes nothing. With notify, user gets seed 001's "Unsub"
// notice: an entry of kind protocol.KindFollow (action FollowUnsub, from
// id's user) in their system conversation, delivered like any entry
// (over MQTT on IMS/<user>/Inbox/Update/<id's user>/Unsub).
func (c *Core) RemoveFollower(ctx context.Context, id Identity, user string, notify bool) error {
	if err := checkFollowTarget(id.User, user); err != nil {
		return err
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	_, entry, err := c.st.RemoveFollower(ctx, id.User, user, notify, c.now())
	if err != nil {
		return fmt.Errorf("remove follower %s: %w", user, err)
	}
	if entry != nil {
		c.committed(nil, entry)
	}
	return nil
}

// Followers returns a page of user's followers, ordered by id, after the
// id after (empty: from the start); limit 0 is 100, at most FollowPageMax.
func (c *Core) Followers(ctx context.Context, user, after string, limit int) (protocol.FollowList, error) {
	return c.followList(ctx, user, after, limit, c.st.Followers)
}

// Following returns a page of the users user follows, as Followers does.
func (c *Core) Following(ctx context.Context, user, after string, limit int) (protocol.FollowList, error) {
	return c.followList(ctx, user, after, limit, c.st.Following)
}

func (c *Core) followList(ctx context.Context, user, after string, limit int,
	list func(ctx context.Context, user, after string, limit int) ([]store.FollowEdge, error)) (protocol.FollowList, error) {
	limit, err := pageLimit(limit, 100, FollowPageMax)
	if err == nil {
		err = afterUser(after)
	}
	if err != nil {
		return protocol.FollowList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.FollowList{}, err
	}
	es, err := list(ctx, user, after, limit+1)
	if err != nil {
		return protocol.FollowList{}, fmt.Errorf("follow list: %w", err)
	}
	var out protocol.FollowList
	out.Follows, out.Next = keysetPage(es, limit,
		func(e store.FollowEdge) protocol.Follow {
			return protocol.Follow{User: e.User, Since: e.Since.UnixMilli()}
		},
		func(e store.FollowEdge) string { return e.User })
	return out, nil
}

// IsFollowing reports whether user follows other and neither blocks the
// other: whether user may subscribe to other's moments (MQTT's
// IMS/<other>).
func (c *Core) IsFollowing(ctx context.Context, user, other string) (bool, error) {
	if user == other {
		return true, nil
	}
	if blocked, err := c.Blocked(ctx, user, other); err != nil || blocked {
		return false, err
	}
	return c.st.IsFollowing(ctx, user, other)
}
