package core

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Moments (docs/protocol.md, "Follows and moments"; seed 001, scene 2). A
// moment is one row, whatever the number of followers (fan-out on read,
// docs/adr/0009-moments-fan-out-on-read.md): followers page the merged
// feed of everyone they follow (store.Moments.Feed), and the followers
// connected when it is posted get it live, as a protocol.TypeMoment push:
// every authenticated WebSocket connection of theirs, and the MQTT
// connections subscribed to IMS/<author>.
//
// Who may see a moment is decided on every read and every push, from the
// state at that moment: its author always; nobody while either of the
// author and them blocks the other; otherwise, by its visibility, the
// author's followers, the author's friends, or the users it lists. Live
// pushes go only to followers (of a list moment: the listed followers).
// Comments and likes are visible to, and may be made by, whoever may see
// the moment.
//
// The live fan-out runs on a stage of its own (momentsOut), after the
// post's commit: it reads the author's followers from the store, a page
// at a time, and checks each connected one, so a post never holds up the
// dispatch of chat messages, and an unfollow or a block that returned
// before the fan-out reads its follower keeps the moment from them.
//
// Cluster mode: the fan-out reaches this node's connections; the bus does
// not carry moments yet, so followers connected to other nodes see a new
// moment in their feed only.

// MomentOptions bound follows and moments; a zero field is no limit (a
// zero MaxMomentBytes or AudienceMax takes the default).
type MomentOptions struct {
	// FollowsPerUser caps the follows one user makes (ErrTooManyFollows);
	// follows that friendships make are not counted against it.
	FollowsPerUser int
	// MaxMomentBytes bounds a moment's text and payload together
	// (ErrTooLarge); default 16 KiB.
	MaxMomentBytes int
	// AudienceMax bounds the users of a list moment; default 500.
	AudienceMax int
	// PostsPerHour and CommentsPerHour are token buckets per user holding
	// an hour's worth (a *ratelimit.Error beyond them).
	PostsPerHour    int
	CommentsPerHour int
}

// Default moment bounds.
const (
	DefaultMaxMomentBytes = 16 << 10
	DefaultAudienceMax    = 500
)

// audienceIDBytes is what each user of a list counts against the message
// limit: the longest user id.
const audienceIDBytes = 64

// withDefaults sets the bounds left zero and makes a moment, list
// included, fit in the message limit, so that its encoding is never larger
// than a message's (MaxMessageJSON) and every frame stays within
// MaxFrameBytes: bounds that do not fit are lowered (a server configured
// with a small message limit gets smaller moments and lists).
func (o *MomentOptions) withDefaults(maxMessageBytes int) error {
	if o.MaxMomentBytes <= 0 {
		o.MaxMomentBytes = DefaultMaxMomentBytes
	}
	if o.AudienceMax <= 0 {
		o.AudienceMax = DefaultAudienceMax
	}
	if o.MaxMomentBytes+o.AudienceMax*audienceIDBytes > maxMessageBytes {
		o.AudienceMax = max(1, min(o.AudienceMax, maxMessageBytes/2/audienceIDBytes))
		o.MaxMomentBytes = min(o.MaxMomentBytes, maxMessageBytes-o.AudienceMax*audienceIDBytes)
	}
	if o.MaxMomentBytes < 1 {
		return fmt.Errorf("core: the message limit (%d bytes) leaves no room for moments", maxMessageBytes)
	}
	return nil
}

// momentSize bounds the JSON encoding of m, as messageSize does a
// message's.
func momentSize(m *protocol.Moment) int {
	n := 200 + jsonStringSize(m.Text) + rawJSONSize(m.Payload) + 6*(len(m.Author)+len(m.ClientMsgID)+len(m.Visibility))
	for _, u := range m.Users {
		n += 3 + 6*len(u)
	}
	return n
}

// Page sizes of moments, comments and likes.
const (
	// MomentPageMax is the largest page of moments (pages also stop at
	// PageMaxBytes).
	MomentPageMax = 100
	// MomentCommentPageMax and MomentLikePageMax bound the pages of a
	// moment's comments and likes.
	MomentCommentPageMax = 200
	MomentLikePageMax    = 500
)

// moments is the core's state of moments: options, budgets and the live
// fan-out's stage.
type moments struct {
	opt      MomentOptions
	posts    *ratelimit.Limiter // nil: not limited
	comments *ratelimit.Limiter
	out      *stage
}

// newMoments returns the moments' state; opt has its defaults
// (withDefaults).
func newMoments(c *Core, opt MomentOptions) *moments {
	m := &moments{opt: opt, out: newStage(c.metrics.DispatchQueue)}
	if opt.PostsPerHour > 0 {
		m.posts = ratelimit.NewLimiter(float64(opt.PostsPerHour), time.Hour, opt.PostsPerHour, c.now)
	}
	if opt.CommentsPerHour > 0 {
		m.comments = ratelimit.NewLimiter(float64(opt.CommentsPerHour), time.Hour, opt.CommentsPerHour, c.now)
	}
	return m
}

// allowHourly takes a token from user's bucket l of limit name.
func (c *Core) allowHourly(l *ratelimit.Limiter, name, what string, perHour int, user string) error {
	if l == nil {
		return nil
	}
	wait := l.Allow(user)
	if wait == 0 {
		return nil
	}
	c.metrics.RateLimited.WithLabelValues(name).Inc()
	return &ratelimit.Error{Limit: name, RetryAfter: wait,
		Msg: fmt.Sprintf("too many %s (at most %d per hour): retry after retry_after_ms", what, perHour)}
}

// PostMoment posts a moment of id's user and returns it. Its text and
// payload together are at most MomentOptions.MaxMomentBytes (ErrTooLarge),
// the text is UTF-8, the payload any JSON value; one of them is needed. A
// list moment names 1 to MomentOptions.AudienceMax users. A repeated
// client_msg_id stores nothing and returns the first moment with
// Duplicate set. Each post spends from the user's posts budget, repeats
// included.
func (c *Core) PostMoment(ctx context.Context, id Identity, p protocol.MomentPost) (protocol.Moment, error) {
	sp, err := c.checkMomentPost(id.User, p)
	if err != nil {
		return protocol.Moment{}, err
	}
	if err := c.allowHourly(c.moments.posts, ratelimit.LimitMoments, "moments", c.moments.opt.PostsPerHour, id.User); err != nil {
		return protocol.Moment{}, err
	}
	sp.CreatedAt = c.now()
	m, dup, err := c.st.PostMoment(ctx, sp)
	if err != nil {
		return protocol.Moment{}, fmt.Errorf("post moment: %w", err)
	}
	out := momentOf(m, id.User)
	out.Duplicate = dup
	if !dup {
		c.moments.out.add(func() { c.fanoutMoment(m) })
	}
	return out, nil
}

// checkMomentPost validates a post and returns it for the store.
func (c *Core) checkMomentPost(author string, p protocol.MomentPost) (store.MomentPost, error) {
	sp := store.MomentPost{Author: author, ClientID: p.ClientMsgID, Text: p.Text, Visibility: p.Visibility}
	if err := validClientMsgID(p.ClientMsgID); err != nil {
		return sp, err
	}
	if !utf8.ValidString(p.Text) {
		return sp, badField("text", "must be UTF-8")
	}
	if len(p.Payload) > 0 && string(p.Payload) != "null" {
		if !json.Valid(p.Payload) {
			return sp, badField("payload", "must be JSON")
		}
		sp.Payload = p.Payload
	}
	if p.Text == "" && sp.Payload == nil {
		return sp, badField("text", "a moment needs a text or a payload")
	}
	if n := len(p.Text) + len(sp.Payload); n > c.moments.opt.MaxMomentBytes {
		return sp, fmt.Errorf("%w: a moment's text and payload are %d bytes, at most %d", ErrTooLarge, n, c.moments.opt.MaxMomentBytes)
	}
	switch p.Visibility {
	case "":
		sp.Visibility = protocol.VisibilityFollowers
	case protocol.VisibilityFollowers, protocol.VisibilityFriends, protocol.VisibilityList:
	default:
		return sp, badField("visibility", "must be %s, %s or %s", protocol.VisibilityFollowers, protocol.VisibilityFriends, protocol.VisibilityList)
	}
	if sp.Visibility != protocol.VisibilityList {
		if len(p.Users) > 0 {
			return sp, badField("users", "are for a moment of visibility %s only", protocol.VisibilityList)
		}
		return sp, nil
	}
	if len(p.Users) == 0 || len(p.Users) > c.moments.opt.AudienceMax {
		return sp, badField("users", "a list moment names 1 to %d users", c.moments.opt.AudienceMax)
	}
	users := slices.Clone(p.Users)
	for _, u := range users {
		if ValidateUserID(u) != nil {
			return sp, badField("users", "%q is not a valid user id", u)
		}
	}
	slices.Sort(users)
	sp.Audience = slices.DeleteFunc(slices.Compact(users), func(u string) bool { return u == author })
	return sp, nil
}

// momentOf is m as reader sees it on the wire.
func momentOf(m store.Moment, reader string) protocol.Moment {
	out := protocol.Moment{ID: m.ID, Author: m.Author, ClientMsgID: m.ClientID, Text: m.Text, Payload: m.Payload,
		Visibility: m.Visibility, Time: m.CreatedAt.UnixMilli(), Likes: m.Likes, Comments: m.Comments, Liked: m.Liked}
	if reader == m.Author {
		out.Users = m.Audience
	}
	return out
}

// momentAccess returns which of author's moments reader may see besides
// their own and the list moments naming them (store.MomentAccess), and
// whether reader may see any: not while either blocks the other.
func (c *Core) momentAccess(ctx context.Context, reader, author string) (store.MomentAccess, bool, error) {
	if reader == author {
		return store.MomentAccess{Followers: true, Friends: true}, true, nil
	}
	blocked, err := c.Blocked(ctx, reader, author)
	if err != nil || blocked {
		return store.MomentAccess{}, false, err
	}
	var a store.MomentAccess
	if a.Followers, err = c.st.IsFollowing(ctx, reader, author); err != nil {
		return a, false, err
	}
	if a.Friends, err = c.st.AreFriends(ctx, reader, author); err != nil {
		return a, false, err
	}
	return a, true, nil
}

// mayView reports whether reader may see m (read as reader: Listed is
// theirs).
func (c *Core) mayView(ctx context.Context, reader string, m store.Moment) (bool, error) {
	if m.Author == reader {
		return true, nil
	}
	if m.Visibility == protocol.VisibilityList {
		if !m.Listed {
			return false, nil
		}
		blocked, err := c.Blocked(ctx, reader, m.Author)
		return !blocked, err
	}
	a, ok, err := c.momentAccess(ctx, reader, m.Author)
	if err != nil || !ok {
		return false, err
	}
	if m.Visibility == protocol.VisibilityFriends {
		return a.Friends, nil
	}
	return a.Followers, nil
}

// visibleMoment reads moment id for reader, or store.ErrNotFound if it
// does not exist or reader may not see it (the two look the same).
func (c *Core) visibleMoment(ctx context.Context, reader string, id int64) (store.Moment, error) {
	if id <= 0 {
		return store.Moment{}, badField("moment", "must be a positive integer")
	}
	m, err := c.st.Moment(ctx, id, reader)
	if err != nil {
		return store.Moment{}, fmt.Errorf("moment %d: %w", id, err)
	}
	ok, err := c.mayView(ctx, reader, m)
	switch {
	case err != nil:
		return store.Moment{}, fmt.Errorf("moment %d: %w", id, err)
	case !ok:
		return store.Moment{}, fmt.Errorf("moment %d: %w", id, store.ErrNotFound)
	}
	return m, nil
}

// Moment returns moment id as user sees it; store.ErrNotFound if it does
// not exist or user may not see it.
func (c *Core) Moment(ctx context.Context, user string, id int64) (protocol.Moment, error) {
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.Moment{}, err
	}
	m, err := c.visibleMoment(ctx, user, id)
	if err != nil {
		return protocol.Moment{}, err
	}
	return momentOf(m, user), nil
}

// DeleteMoment deletes one of id's user's moments, with its comments and
// likes; store.ErrNotFound if the user has no such moment.
func (c *Core) DeleteMoment(ctx context.Context, id Identity, moment int64) error {
	if moment <= 0 {
		return badField("moment", "must be a positive integer")
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	return c.st.DeleteMoment(ctx, id.User, moment)
}

// parseMomentCursor reads a cursor of a moments page ("" is the newest).
func parseMomentCursor(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || n <= 0 {
		return 0, badField("cursor", "is not a cursor of this list")
	}
	return n, nil
}

func momentPageLimit(limit int) (int, error) {
	switch {
	case limit < 0 || limit > MomentPageMax:
		return 0, badField("limit", "must be between 1 and %d", MomentPageMax)
	case limit == 0:
		return 20, nil
	}
	return limit, nil
}

// feedRounds bounds the store reads of one feed page: friends-only
// moments of authors who are not the reader's friends, and moments of
// users the reader blocks, are dropped after reading, so a page may need
// more than one read (each of twice the page); after feedRounds it is
// answered short, with a cursor to go on.
const feedRounds = 4

// Feed returns a page of user's feed: the moments user may see of the
// users user follows, and user's own, newest first, from cursor (empty:
// the newest) on; limit 0 is 20, at most MomentPageMax. A page may be
// shorter than limit and still have a Next.
func (c *Core) Feed(ctx context.Context, user, cursor string, limit int) (protocol.MomentPage, error) {
	before, err := parseMomentCursor(cursor)
	if err != nil {
		return protocol.MomentPage{}, err
	}
	if limit, err = momentPageLimit(limit); err != nil {
		return protocol.MomentPage{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.MomentPage{}, err
	}
	blocked, err := c.blockFilter(ctx, user)
	if err != nil {
		return protocol.MomentPage{}, fmt.Errorf("feed: %w", err)
	}
	friends := map[string]bool{}
	out := protocol.MomentPage{Moments: make([]protocol.Moment, 0, limit)}
	size := 0
	// Read more than a page: the moments dropped below (friends-only
	// ones of non-friends, blocked authors) then rarely cost another read,
	// and a read's cost is mostly one lookup per followed user, whatever
	// its size.
	fetch := min(2*limit, 2*MomentPageMax)
	for range feedRounds {
		ms, err := c.st.Feed(ctx, user, before, fetch)
		if err != nil {
			return protocol.MomentPage{}, fmt.Errorf("feed: %w", err)
		}
		for i, m := range ms {
			before = m.ID
			if m.Author != user {
				if blocked(m.Author) {
					continue
				}
				if m.Visibility == protocol.VisibilityFriends {
					f, seen := friends[m.Author]
					if !seen {
						if f, err = c.st.AreFriends(ctx, user, m.Author); err != nil {
							return protocol.MomentPage{}, fmt.Errorf("feed: %w", err)
						}
						friends[m.Author] = f
					}
					if !f {
						continue
					}
				}
			}
			pm := momentOf(m, user)
			if size += momentSize(&pm) + 1; size > PageMaxBytes && len(out.Moments) > 0 {
				// Full by bytes: this one starts the next page.
				out.Next = strconv.FormatInt(out.Moments[len(out.Moments)-1].ID, 10)
				return out, nil
			}
			out.Moments = append(out.Moments, pm)
			if len(out.Moments) == limit {
				if i < len(ms)-1 || len(ms) == fetch {
					out.Next = strconv.FormatInt(m.ID, 10)
				}
				return out, nil
			}
		}
		if len(ms) < fetch {
			return out, nil // the feed ends here
		}
	}
	out.Next = strconv.FormatInt(before, 10)
	return out, nil
}

// UserMoments returns a page of author's moments that user may see,
// newest first, as Feed pages; an unknown author, and one who blocks user
// or whom user blocks, are store.ErrNotFound.
func (c *Core) UserMoments(ctx context.Context, user, author, cursor string, limit int) (protocol.MomentPage, error) {
	before, err := parseMomentCursor(cursor)
	if err != nil {
		return protocol.MomentPage{}, err
	}
	if limit, err = momentPageLimit(limit); err != nil {
		return protocol.MomentPage{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.MomentPage{}, err
	}
	if author != user {
		if err := c.checkUserExists(ctx, author, "user"); err != nil {
			return protocol.MomentPage{}, err
		}
	}
	access, ok, err := c.momentAccess(ctx, user, author)
	switch {
	case err != nil:
		return protocol.MomentPage{}, fmt.Errorf("moments of %s: %w", author, err)
	case !ok:
		return protocol.MomentPage{}, fmt.Errorf("user %s: %w", author, store.ErrNotFound)
	}
	ms, err := c.st.AuthorMoments(ctx, author, user, access, before, limit+1)
	if err != nil {
		return protocol.MomentPage{}, fmt.Errorf("moments of %s: %w", author, err)
	}
	out := protocol.MomentPage{Moments: make([]protocol.Moment, 0, min(len(ms), limit))}
	size := 0
	for i, m := range ms {
		pm := momentOf(m, user)
		size += momentSize(&pm) + 1
		if i == limit || size > PageMaxBytes && i > 0 {
			out.Next = strconv.FormatInt(ms[i-1].ID, 10)
			break
		}
		out.Moments = append(out.Moments, pm)
	}
	return out, nil
}

// Comment comments on a moment id's user may see (store.ErrNotFound
// otherwise) with text: 1 to protocol.MomentCommentMax bytes of UTF-8.
// Comments are limited per user and hour (MomentOptions.CommentsPerHour).
func (c *Core) Comment(ctx context.Context, id Identity, moment int64, text string) (protocol.MomentComment, error) {
	if text == "" || len(text) > protocol.MomentCommentMax || !utf8.ValidString(text) {
		return protocol.MomentComment{}, badField("text", "must be 1 to %d bytes of UTF-8", protocol.MomentCommentMax)
	}
	if err := c.allowHourly(c.moments.comments, ratelimit.LimitMomentComments, "comments", c.moments.opt.CommentsPerHour, id.User); err != nil {
		return protocol.MomentComment{}, err
	}
	if _, err := c.visibleMoment(ctx, id.User, moment); err != nil {
		return protocol.MomentComment{}, err
	}
	cm, err := c.st.AddComment(ctx, store.MomentComment{Moment: moment, Author: id.User, Text: text, CreatedAt: c.now()})
	if err != nil {
		return protocol.MomentComment{}, fmt.Errorf("comment: %w", err)
	}
	return commentOf(cm), nil
}

func commentOf(cm store.MomentComment) protocol.MomentComment {
	return protocol.MomentComment{ID: cm.ID, Moment: cm.Moment, Author: cm.Author, Text: cm.Text, Time: cm.CreatedAt.UnixMilli()}
}

// DeleteComment deletes a comment: its author may, and the author of the
// moment; store.ErrNotFound for anyone else, or no such comment.
func (c *Core) DeleteComment(ctx context.Context, id Identity, moment, comment int64) error {
	if moment <= 0 || comment <= 0 {
		return badField("comment", "moment and comment must be positive integers")
	}
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	return c.st.DeleteComment(ctx, moment, comment, id.User)
}

// Comments returns a page of the comments of a moment user may see,
// oldest first, after the comment after (0: the first); limit 0 is 50, at
// most MomentCommentPageMax.
func (c *Core) Comments(ctx context.Context, user string, moment, after int64, limit int) (protocol.MomentCommentPage, error) {
	limit, err := pageLimit(limit, 50, MomentCommentPageMax)
	if err != nil {
		return protocol.MomentCommentPage{}, err
	}
	if after < 0 {
		return protocol.MomentCommentPage{}, badField("after", "must not be negative")
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.MomentCommentPage{}, err
	}
	if _, err := c.visibleMoment(ctx, user, moment); err != nil {
		return protocol.MomentCommentPage{}, err
	}
	cs, err := c.st.Comments(ctx, moment, after, limit+1)
	if err != nil {
		return protocol.MomentCommentPage{}, fmt.Errorf("comments: %w", err)
	}
	var out protocol.MomentCommentPage
	out.Comments, out.Next = keysetPage(cs, limit, commentOf, func(cm store.MomentComment) int64 { return cm.ID })
	out.Comments, err = withoutBlocked(ctx, c, user, out.Comments, func(cm protocol.MomentComment) string { return cm.Author })
	return out, err
}

// Like likes (like true) a moment id's user may see, or takes the like
// back; liking twice is one like.
func (c *Core) Like(ctx context.Context, id Identity, moment int64, like bool) error {
	if err := c.budget.spend(id.User, opCheap); err != nil {
		return err
	}
	if _, err := c.visibleMoment(ctx, id.User, moment); err != nil {
		return err
	}
	if _, err := c.st.Like(ctx, moment, id.User, like, c.now()); err != nil {
		return fmt.Errorf("like: %w", err)
	}
	return nil
}

// Likes returns a page of the likes of a moment user may see, ordered by
// user id, after the id after; limit 0 is 100, at most MomentLikePageMax.
func (c *Core) Likes(ctx context.Context, user string, moment int64, after string, limit int) (protocol.MomentLikeList, error) {
	limit, err := pageLimit(limit, 100, MomentLikePageMax)
	if err == nil {
		err = afterUser(after)
	}
	if err != nil {
		return protocol.MomentLikeList{}, err
	}
	if err := c.budget.spend(user, opQuery); err != nil {
		return protocol.MomentLikeList{}, err
	}
	if _, err := c.visibleMoment(ctx, user, moment); err != nil {
		return protocol.MomentLikeList{}, err
	}
	ls, err := c.st.Likes(ctx, moment, after, limit+1)
	if err != nil {
		return protocol.MomentLikeList{}, fmt.Errorf("likes: %w", err)
	}
	var out protocol.MomentLikeList
	out.Likes, out.Next = keysetPage(ls, limit,
		func(l store.MomentLike) protocol.MomentLike {
			return protocol.MomentLike{User: l.User, Time: l.CreatedAt.UnixMilli()}
		},
		func(l store.MomentLike) string { return l.User })
	out.Likes, err = withoutBlocked(ctx, c, user, out.Likes, func(l protocol.MomentLike) string { return l.User })
	return out, err
}

// withoutBlocked leaves out of a page of comments or likes those by users
// who block reader or whom reader blocks: a block hides both ways, here as
// in the feed. The page's cursor is kept, so a page may come out shorter
// than its limit.
func withoutBlocked[T any](ctx context.Context, c *Core, reader string, page []T, by func(T) string) ([]T, error) {
	if len(page) == 0 {
		return page, nil
	}
	blocked, err := c.blockFilter(ctx, reader)
	if err != nil {
		return nil, fmt.Errorf("moment: blocks: %w", err)
	}
	out := page[:0]
	for _, x := range page {
		if u := by(x); u == reader || !blocked(u) {
			out = append(out, x)
		}
	}
	return out, nil
}

// followersPage is how many followers the live fan-out reads at a time.
const followersPage = 1000

// fanoutMoment pushes a new moment to the connections on this node of
// those who may see it now: its author's (with the list of a list
// moment), and its followers' who may see it (of a list moment, the
// listed followers). Only the moments stage runs it.
func (c *Core) fanoutMoment(m store.Moment) {
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	defer cancel()
	mine, theirs := momentOf(m, m.Author), momentOf(m, "")
	own := &Event{Type: protocol.TypeMoment, Data: &mine}
	if err := own.Encode(); err != nil {
		c.log.Error("moment push dropped", "id", m.ID, "err", err)
		return
	}
	c.deliverToUser(m.Author, own, false)
	ev := &Event{Type: protocol.TypeMoment, Data: &theirs}
	blocked, err := c.blockFilter(ctx, m.Author)
	if err != nil {
		c.log.Warn("moment push: blocks", "id", m.ID, "err", err)
		return
	}
	push := func(u string) {
		if len(c.hub.clients(u)) == 0 || blocked(u) {
			return
		}
		if m.Visibility == protocol.VisibilityFriends {
			if f, err := c.st.AreFriends(ctx, m.Author, u); err != nil || !f {
				return
			}
		}
		c.deliverToUser(u, ev, false)
	}
	if m.Visibility == protocol.VisibilityList {
		// The listed users (at most AudienceMax; m is as its author
		// sees it, with the list) who follow.
		for _, u := range m.Audience {
			if len(c.hub.clients(u)) == 0 {
				continue
			}
			if f, err := c.st.IsFollowing(ctx, u, m.Author); err == nil && f {
				push(u)
			}
		}
		return
	}
	for after := ""; ; {
		fs, err := c.st.Followers(ctx, m.Author, after, followersPage)
		if err != nil {
			c.log.Warn("moment push: followers", "id", m.ID, "err", err)
			return
		}
		for _, f := range fs {
			push(f.User)
		}
		if len(fs) < followersPage {
			return
		}
		after = fs[len(fs)-1].User
	}
}
