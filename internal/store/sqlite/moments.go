package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var _ store.Moments = (*DB)(nil)

// momentCols are the columns scanMoment reads, from moments m, with ?1 the
// reader: liked and listed are the reader's.
const momentCols = `m.id, m.author, m.client_id, m.text, m.payload, m.visibility, m.created_at, m.likes, m.comments,
	EXISTS (SELECT 1 FROM moment_likes l WHERE l.moment_id = m.id AND l.user_id = ?1),
	m.visibility = '` + protocol.VisibilityList + `' AND EXISTS (SELECT 1 FROM moment_audience a WHERE a.moment_id = m.id AND a.user_id = ?1)`

// listedFor is true for a moment of m that the reader ?1 may see by what
// the moments tables know: their own, not a list moment, or one that
// lists them.
const listedFor = `(m.author = ?1 OR m.visibility != '` + protocol.VisibilityList + `'
	OR EXISTS (SELECT 1 FROM moment_audience a WHERE a.moment_id = m.id AND a.user_id = ?1))`

func scanMoment(r rowScanner) (store.Moment, error) {
	var m store.Moment
	var at int64
	var payload []byte
	if err := r.Scan(&m.ID, &m.Author, &m.ClientID, &m.Text, &payload, &m.Visibility, &at, &m.Likes, &m.Comments,
		&m.Liked, &m.Listed); err != nil {
		return store.Moment{}, err
	}
	if len(payload) > 0 {
		m.Payload = payload
	}
	m.CreatedAt = fromMS(at)
	return m, nil
}

func queryMoments(ctx context.Context, q querier, query string, args ...any) ([]store.Moment, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []store.Moment
	for rows.Next() {
		m, err := scanMoment(rows)
		if err != nil {
			return nil, classify(err)
		}
		out = append(out, m)
	}
	return out, classify(rows.Err())
}

// PostMoment stores a moment with its audience in one transaction; see
// store.Moments.PostMoment.
func (db *DB) PostMoment(ctx context.Context, p store.MomentPost) (store.Moment, bool, error) {
	var (
		m   store.Moment
		dup bool
	)
	err := db.update(ctx, func(tx *Tx) error {
		dup = false
		if p.ClientID != "" {
			var id int64
			err := tx.QueryRowContext(ctx, "SELECT id FROM moments WHERE author = ? AND client_id = ?", p.Author, p.ClientID).Scan(&id)
			switch {
			case err == nil:
				dup = true
				m, err = momentTx(ctx, tx, id, p.Author)
				return err
			case !errors.Is(err, sql.ErrNoRows):
				return classify(err)
			}
		}
		var payload any
		if len(p.Payload) > 0 {
			payload = p.Payload
		}
		var id int64
		if err := tx.QueryRowContext(ctx,
			`INSERT INTO moments (author, client_id, text, payload, visibility, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			p.Author, p.ClientID, p.Text, payload, p.Visibility, ms(p.CreatedAt)).Scan(&id); err != nil {
			return classify(err)
		}
		users := p.Audience
		for _, size := range chunkSizes(len(users)) {
			args := make([]any, 0, 2*size)
			for _, u := range users[:size] {
				args = append(args, id, u)
			}
			users = users[size:]
			if _, err := tx.ExecContext(ctx, "INSERT INTO moment_audience (moment_id, user_id) VALUES "+valuesList(size, 2)+" ON CONFLICT DO NOTHING", args...); err != nil {
				return classify(err)
			}
		}
		var err error
		m, err = momentTx(ctx, tx, id, p.Author)
		return err
	})
	if err != nil {
		return store.Moment{}, false, fmt.Errorf("store: post moment: %w", err)
	}
	return m, dup, nil
}

// momentTx reads moment id as reader sees it, with its audience for its
// author.
func momentTx(ctx context.Context, q querier, id int64, reader string) (store.Moment, error) {
	m, err := scanMoment(q.QueryRowContext(ctx, "SELECT "+momentCols+" FROM moments m WHERE m.id = ?2", reader, id))
	if err != nil {
		return store.Moment{}, classify(err)
	}
	if m.Author == reader && m.Visibility == protocol.VisibilityList {
		if m.Audience, err = queryStrings(ctx, q, "SELECT user_id FROM moment_audience WHERE moment_id = ? ORDER BY user_id", id); err != nil {
			return store.Moment{}, err
		}
	}
	return m, nil
}

// Moment reads one moment as reader sees it; see store.Moments.Moment.
func (db *DB) Moment(ctx context.Context, id int64, reader string) (store.Moment, error) {
	var m store.Moment
	err := db.view(ctx, func(tx *Tx) error {
		var err error
		m, err = momentTx(ctx, tx, id, reader)
		return err
	})
	if err != nil {
		return store.Moment{}, fmt.Errorf("store: moment %d: %w", id, err)
	}
	return m, nil
}

// DeleteMoment deletes one of author's moments; the trigger moments_delete
// takes its comments, likes and audience with it.
func (db *DB) DeleteMoment(ctx context.Context, author string, id int64) error {
	err := db.update(ctx, func(tx *Tx) error {
		ok, err := deletedRow(ctx, tx, "DELETE FROM moments WHERE id = ? AND author = ?", id, author)
		if err == nil && !ok {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete moment %d: %w", id, err)
	}
	return nil
}

// feedTops finds, for the reader ?1 and the cursor ?2, the authors whose
// newest moment the reader may see below the cursor is among the ?3
// newest such: those the reader follows, and the reader. Each is one
// backward seek in moments_author (plus a lookup of the audience for a
// list moment that does not name the reader). An author without such a
// moment has a NULL top, which sorts last (NULLS LAST: SQLite's order for
// DESC, not PostgreSQL's); the query does not filter them out itself,
// since SQLite would then evaluate each top twice.
const feedTops = `
SELECT a, top FROM (
	SELECT f.followee AS a,
		(SELECT m.id FROM moments m WHERE m.author = f.followee AND m.id < ?2 AND ` + listedFor + `
		 ORDER BY m.id DESC LIMIT 1) AS top
	FROM follows f WHERE f.follower = ?1
	UNION ALL
	SELECT ?1, (SELECT max(id) FROM moments WHERE author = ?1 AND id < ?2)
) AS t ORDER BY top DESC NULLS LAST LIMIT ?3`

// Feed returns the reader's merged feed below before; see
// store.Moments.Feed.
//
// The page is a merge of the followed authors' moments, fanned out on
// read, in two steps. feedTops picks the limit authors whose newest
// visible moment below the cursor is newest: no other author can have a
// moment on the page, since each of those limit authors has one newer
// than all of theirs. The page is then the newest limit moments of those
// authors, read through moments_author at most limit per author and, when
// there are limit of them, no older than the oldest of their tops (the
// page's oldest moment is at least that new). So the cost is one index
// seek per followed user plus at most limit × limit index entries.
func (db *DB) Feed(ctx context.Context, reader string, before int64, limit int) ([]store.Moment, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	var out []store.Moment
	err := db.view(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, feedTops, reader, before, limit)
		if err != nil {
			return classify(err)
		}
		var authors []any
		floor := int64(math.MaxInt64)
		for rows.Next() {
			var a string
			var top sql.NullInt64
			if err := rows.Scan(&a, &top); err != nil {
				rows.Close()
				return classify(err)
			}
			if !top.Valid {
				break // and so are the rest
			}
			authors = append(authors, a)
			floor = min(floor, top.Int64)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return classify(err)
		}
		rows.Close()
		if len(authors) == 0 {
			return nil
		}
		if len(authors) < limit {
			floor = 0 // fewer authors than moments asked for: no bound
		}
		// ?1 to ?4 as named; the authors are ?5 and on, each read on its
		// own through moments_author, at most ?4 moments each.
		arms := make([]string, len(authors))
		for i := range authors {
			arms[i] = fmt.Sprintf("SELECT id FROM (SELECT m.id FROM moments m WHERE m.author = ?%d AND m.id < ?2 AND m.id >= ?3 AND %s ORDER BY m.id DESC LIMIT ?4) AS arm",
				5+i, listedFor)
		}
		q := "SELECT " + momentCols + " FROM moments m WHERE m.id IN (" + strings.Join(arms, " UNION ALL ") + ") ORDER BY m.id DESC LIMIT ?4"
		args := append([]any{reader, before, floor, limit}, authors...)
		out, err = queryMoments(ctx, tx, q, args...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: feed: %w", err)
	}
	return out, nil
}

// numbered returns "?from, ?from+1, ..." for n parameters.
func numbered(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "?%d", from+i)
	}
	return b.String()
}

// AuthorMoments pages one author's moments as reader may see them; see
// store.Moments.AuthorMoments.
func (db *DB) AuthorMoments(ctx context.Context, author, reader string, access store.MomentAccess, before int64, limit int) ([]store.Moment, error) {
	if before <= 0 {
		before = math.MaxInt64
	}
	out, err := queryMoments(ctx, db.r, "SELECT "+momentCols+` FROM moments m
		WHERE m.author = ?2 AND m.id < ?3 AND (?2 = ?1
			OR (m.visibility = '`+protocol.VisibilityFollowers+`' AND ?4)
			OR (m.visibility = '`+protocol.VisibilityFriends+`' AND ?5)
			OR (m.visibility = '`+protocol.VisibilityList+`' AND EXISTS (SELECT 1 FROM moment_audience a WHERE a.moment_id = m.id AND a.user_id = ?1)))
		ORDER BY m.id DESC LIMIT ?6`,
		reader, author, before, access.Followers, access.Friends, limit)
	if err != nil {
		return nil, fmt.Errorf("store: moments of %s: %w", author, err)
	}
	return out, nil
}

// AddComment stores a comment; see store.Moments.AddComment. The trigger
// moment_comments_count_add counts it.
func (db *DB) AddComment(ctx context.Context, c store.MomentComment) (store.MomentComment, error) {
	err := db.update(ctx, func(tx *Tx) error {
		ok, err := found(ctx, tx, "SELECT 1 FROM moments WHERE id = ?", c.Moment)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		return classify(tx.QueryRowContext(ctx,
			"INSERT INTO moment_comments (moment_id, author, text, created_at) VALUES (?, ?, ?, ?) RETURNING id",
			c.Moment, c.Author, c.Text, ms(c.CreatedAt)).Scan(&c.ID))
	})
	if err != nil {
		return store.MomentComment{}, fmt.Errorf("store: comment on %d: %w", c.Moment, err)
	}
	return c, nil
}

// DeleteComment deletes a comment by its author or the moment's; see
// store.Moments.DeleteComment.
func (db *DB) DeleteComment(ctx context.Context, moment, id int64, user string) error {
	err := db.update(ctx, func(tx *Tx) error {
		ok, err := deletedRow(ctx, tx, `DELETE FROM moment_comments WHERE id = ? AND moment_id = ?
			AND (author = ? OR EXISTS (SELECT 1 FROM moments WHERE id = ? AND author = ?))`, id, moment, user, moment, user)
		if err == nil && !ok {
			err = store.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete comment %d: %w", id, err)
	}
	return nil
}

// Comments pages a moment's comments, oldest first.
func (db *DB) Comments(ctx context.Context, moment, after int64, limit int) ([]store.MomentComment, error) {
	rows, err := db.r.QueryContext(ctx,
		"SELECT id, author, text, created_at FROM moment_comments WHERE moment_id = ? AND id > ? ORDER BY id LIMIT ?",
		moment, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: comments of %d: %w", moment, classify(err))
	}
	defer rows.Close()
	var out []store.MomentComment
	for rows.Next() {
		c := store.MomentComment{Moment: moment}
		var at int64
		if err := rows.Scan(&c.ID, &c.Author, &c.Text, &at); err != nil {
			return nil, fmt.Errorf("store: comments of %d: %w", moment, classify(err))
		}
		c.CreatedAt = fromMS(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: comments of %d: %w", moment, classify(err))
	}
	return out, nil
}

// Like records or takes back a like; see store.Moments.Like. The
// triggers moment_likes_count_* keep the count.
func (db *DB) Like(ctx context.Context, moment int64, user string, like bool, now time.Time) (bool, error) {
	var changed bool
	err := db.update(ctx, func(tx *Tx) error {
		ok, err := found(ctx, tx, "SELECT 1 FROM moments WHERE id = ?", moment)
		if err != nil {
			return err
		}
		if !ok {
			return store.ErrNotFound
		}
		if !like {
			changed, err = deletedRow(ctx, tx, "DELETE FROM moment_likes WHERE moment_id = ? AND user_id = ?", moment, user)
			return err
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO moment_likes (moment_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			moment, user, ms(now))
		if err != nil {
			return classify(err)
		}
		n, err := res.RowsAffected()
		changed = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: like %d: %w", moment, err)
	}
	return changed, nil
}

// Likes pages a moment's likes by user id.
func (db *DB) Likes(ctx context.Context, moment int64, after string, limit int) ([]store.MomentLike, error) {
	rows, err := db.r.QueryContext(ctx,
		"SELECT user_id, created_at FROM moment_likes WHERE moment_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
		moment, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: likes of %d: %w", moment, classify(err))
	}
	defer rows.Close()
	var out []store.MomentLike
	for rows.Next() {
		var l store.MomentLike
		var at int64
		if err := rows.Scan(&l.User, &at); err != nil {
			return nil, fmt.Errorf("store: likes of %d: %w", moment, classify(err))
		}
		l.CreatedAt = fromMS(at)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: likes of %d: %w", moment, classify(err))
	}
	return out, nil
}
