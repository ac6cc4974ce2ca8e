package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var _ store.Notices = (*DB)(nil)

const noticeCols = "id, audience, created_by, content_type, body, payload, created_at, state, matched, stored, skipped, delivered, cursor, finished_at"

// noticeScanMin is the fewest candidate users one chunk looks at (see
// noticeScan).
const noticeScanMin = 4096

// noticeScan bounds the candidate users one chunk of limit copies looks
// at: the users of the audience's required tag, or all users, in id
// order. A selective audience then takes several short transactions to
// find its users rather than one long one.
func noticeScan(limit int) int { return max(noticeScanMin, 16*limit) }

func scanNotice(r rowScanner) (store.Notice, error) {
	var n store.Notice
	var audience string
	var payload []byte
	var created, finished int64
	if err := r.Scan(&n.ID, &audience, &n.CreatedBy, &n.ContentType, &n.Body, &payload, &created, &n.State,
		&n.Matched, &n.Stored, &n.Skipped, &n.Delivered, &n.Cursor, &finished); err != nil {
		return store.Notice{}, classify(err)
	}
	if err := json.Unmarshal([]byte(audience), &n.To); err != nil {
		return store.Notice{}, fmt.Errorf("notice %s: audience: %w", n.ID, err)
	}
	if len(payload) > 0 {
		n.Payload = payload
	}
	n.CreatedAt, n.FinishedAt = fromMS(created), fromMS(finished)
	return n, nil
}

func readNotice(ctx context.Context, q querier, id string) (store.Notice, error) {
	return scanNotice(q.QueryRowContext(ctx, "SELECT "+noticeCols+" FROM notices WHERE id = ?", id))
}

// CreateNotice stores a new notice; see store.Notices.
func (db *DB) CreateNotice(ctx context.Context, n store.Notice) error {
	audience, err := json.Marshal(n.To)
	if err != nil {
		return fmt.Errorf("store: create notice: audience: %w", err)
	}
	var payload any
	if len(n.Payload) > 0 {
		payload = n.Payload
	}
	err = db.update(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notices (id, audience, audience_text, created_by, content_type, body, payload, created_at, state)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			n.ID, string(audience), n.To.String(), n.CreatedBy, n.ContentType, n.Body, payload, ms(n.CreatedAt), store.NoticeSending)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: create notice %s: %w", n.ID, err)
	}
	return nil
}

// Notice returns a notice; see store.Notices.
func (db *DB) Notice(ctx context.Context, id string) (store.Notice, error) {
	n, err := readNotice(ctx, db.r, id)
	if err != nil {
		return store.Notice{}, fmt.Errorf("store: notice %s: %w", id, err)
	}
	return n, nil
}

// ListNotices pages the notices, newest first; see store.Notices.
func (db *DB) ListNotices(ctx context.Context, before string, limit int) ([]store.Notice, error) {
	var out []store.Notice
	err := db.view(ctx, func(tx *Tx) error {
		q, args := "SELECT "+noticeCols+" FROM notices", []any{}
		if before != "" {
			var created int64
			if err := tx.QueryRowContext(ctx, "SELECT created_at FROM notices WHERE id = ?", before).Scan(&created); err != nil {
				return classify(err)
			}
			q += " WHERE created_at < ? OR (created_at = ? AND id < ?)"
			args = append(args, created, created, before)
		}
		q += " ORDER BY created_at DESC, id DESC LIMIT ?"
		rows, err := tx.QueryContext(ctx, q, append(args, limit)...)
		if err != nil {
			return classify(err)
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotice(rows)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return classify(rows.Err())
	})
	if err != nil {
		return nil, fmt.Errorf("store: list notices: %w", err)
	}
	return out, nil
}

// SendingNotices returns the notices being sent, oldest first; see
// store.Notices.
func (db *DB) SendingNotices(ctx context.Context) ([]store.Notice, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+noticeCols+" FROM notices WHERE state = ? ORDER BY created_at, id", store.NoticeSending)
	if err != nil {
		return nil, fmt.Errorf("store: notices being sent: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Notice
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("store: notices being sent: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: notices being sent: %w", classify(err))
	}
	return out, nil
}

// audience is the SQL of a notice's audience: the users (alias u) that
// exist and are not deleted, were created by the notice's creation, and
// matched its expression then (a recorded verdict, or their tags, which
// have not changed since if there is none).
//
// When every user of the audience carries one tag (store.TagExpr.Required)
// the candidates are the users with that tag now, plus those recorded as
// having matched, who may have lost it since; otherwise every user. The
// audience is taken in the order of its positions (pos): for a required
// tag, the users' system conversation ids (user_tags.sys), so that a
// chunk's copies go to neighbouring rows of the conversations, members
// and messages, and its commit writes few pages (about a third less CPU a
// copy than in user id order, whose conversations are scattered); else the
// user ids, in the order of the users table.
type audience struct {
	n store.Notice
}

// required is the tag every user of the audience carries, if any.
func (a audience) required() (store.TagExpr, bool) { return a.n.To.Required() }

// pos is user's position in the order the audience is taken in.
func (a audience) pos(user string) string {
	if _, ok := a.required(); ok {
		return store.SystemConvID(user)
	}
	return user
}

// posCol is the SQL of a candidate's position.
func (a audience) posCol() string {
	if _, ok := a.required(); ok {
		return "r.sys"
	}
	return "u.id"
}

// cond returns the condition on a candidate u and its parameters: a
// boolean (a recorded verdict is an integer, 0 or 1, so the COALESCE
// compares it with 1: PostgreSQL mixes no integer with a boolean).
func (a audience) cond() (string, []any) {
	args := []any{ms(a.n.CreatedAt), a.n.ID}
	expr := "1 = 1"
	if a.n.To.Op != store.TagTerm {
		// (A lone term is the required tag, which every candidate but
		// those with a verdict carries.)
		expr = tagSQL(a.n.To, "u.id", &args)
	}
	return "u.deleted = 0 AND u.created_at <= ? AND COALESCE((SELECT v.matched = 1 FROM notice_verdicts AS v " +
		"WHERE v.notice_id = ? AND v.pos = " + a.posCol() + "), " + expr + ")", args
}

// candidates returns the query of the candidate users after position
// after, in position order: user id, position, and whether the user is in
// the audience (0 or 1); it ends in "LIMIT ?".
func (a audience) candidates(after string) (string, []any) {
	cond, cargs := a.cond()
	in := "CASE WHEN " + cond + " THEN 1 ELSE 0 END"
	if req, ok := a.required(); ok {
		return "SELECT r.user_id, r.sys, " + in + " FROM user_tags AS r JOIN users AS u ON u.id = r.user_id " +
			"WHERE r.key = ? AND r.value = ? AND r.sys > ? ORDER BY r.sys LIMIT ?", append(cargs, req.Key, req.Value, after)
	}
	return "SELECT u.id, u.id, " + in + " FROM users AS u WHERE u.id > ? ORDER BY u.id LIMIT ?", append(cargs, after)
}

// lost returns the query of the users at positions in (after, upto] (""
// upto: no bound) who were in the audience when the notice was created
// but have lost its required tag since, in position order (user id and
// position); "" if the audience has no required tag (the candidates are
// then every user).
func (a audience) lost(after, upto string) (string, []any) {
	req, ok := a.required()
	if !ok {
		return "", nil
	}
	q := "SELECT v.user_id, v.pos FROM notice_verdicts AS v JOIN users AS u ON u.id = v.user_id " +
		"WHERE v.notice_id = ? AND v.matched = 1 AND u.deleted = 0 AND NOT EXISTS (SELECT 1 FROM user_tags AS t " +
		"WHERE t.user_id = v.user_id AND t.key = ? AND t.value = ?) AND v.pos > ?"
	args := []any{a.n.ID, req.Key, req.Value, after}
	if upto != "" {
		q += " AND v.pos <= ?"
		args = append(args, upto)
	}
	return q + " ORDER BY v.pos", args
}

// count counts the audience in q.
func (a audience) count(ctx context.Context, q querier) (int64, error) {
	cond, args := a.cond()
	from := "users AS u"
	if req, ok := a.required(); ok {
		from = "user_tags AS r JOIN users AS u ON u.id = r.user_id"
		cond = "r.key = ? AND r.value = ? AND " + cond
		args = append([]any{req.Key, req.Value}, args...)
	}
	var n int64
	if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+from+" WHERE "+cond, args...).Scan(&n); err != nil {
		return 0, classify(err)
	}
	if lq, largs := a.lost("", ""); lq != "" {
		var m int64
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+lq+") AS l", largs...).Scan(&m); err != nil {
			return 0, classify(err)
		}
		n += m
	}
	return n, nil
}

// CountNoticeAudience counts a notice's audience in a read transaction;
// see store.Notices.
func (db *DB) CountNoticeAudience(ctx context.Context, id string) (store.Notice, error) {
	var n store.Notice
	var count int64
	err := db.view(ctx, func(tx *Tx) error {
		var err error
		if n, err = readNotice(ctx, tx, id); err != nil {
			return err
		}
		if n.Matched >= 0 || n.Cursor != "" {
			return nil
		}
		count, err = audience{n}.count(ctx, tx)
		return err
	})
	if err != nil {
		return store.Notice{}, fmt.Errorf("store: count audience of notice %s: %w", id, err)
	}
	if n.Matched >= 0 || n.Cursor != "" {
		return n, nil
	}
	err = db.update(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE notices SET matched = ? WHERE id = ? AND matched < 0 AND cursor = ''", count, id); err != nil {
			return classify(err)
		}
		var err error
		n, err = readNotice(ctx, tx, id)
		return err
	})
	if err != nil {
		return store.Notice{}, fmt.Errorf("store: count audience of notice %s: %w", id, err)
	}
	return n, nil
}

// SendNoticeChunk stores the next copies of a notice; see store.Notices.
func (db *DB) SendNoticeChunk(ctx context.Context, id string, limit int, delivered int64, now time.Time) ([]store.NoticeCopy, store.Notice, error) {
	var copies []store.NoticeCopy
	var n store.Notice
	err := db.update(ctx, func(tx *Tx) error {
		copies = nil // a run again (OnEngine) starts afresh
		var err error
		if n, err = readNotice(ctx, tx, id); err != nil {
			return err
		}
		if n.State != store.NoticeSending || limit <= 0 {
			if delivered != 0 {
				n.Delivered += delivered
				_, err = tx.ExecContext(ctx, "UPDATE notices SET delivered = ? WHERE id = ?", n.Delivered, id)
			}
			return classify(err)
		}
		users, next, done, err := nextAudience(ctx, tx, n, limit)
		if err != nil {
			return err
		}
		copies, err = storeCopies(ctx, tx, n, users, now)
		if err != nil {
			return err
		}
		n.Stored += int64(len(copies))
		n.Delivered += delivered
		n.Cursor = next
		if done {
			n.State, n.FinishedAt = store.NoticeDone, now
			if n.Matched >= 0 {
				n.Skipped = max(0, n.Matched-n.Stored)
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE notices SET state = ?, stored = ?, skipped = ?, delivered = ?, cursor = ?, finished_at = ? WHERE id = ?",
			n.State, n.Stored, n.Skipped, n.Delivered, n.Cursor, ms(n.FinishedAt), id); err != nil {
			return fmt.Errorf("advance notice: %w", classify(err))
		}
		// Verdicts of users behind the cursor are no longer needed.
		q, args := "DELETE FROM notice_verdicts WHERE notice_id = ? AND pos <= ?", []any{id, next}
		if done {
			q, args = "DELETE FROM notice_verdicts WHERE notice_id = ?", []any{id}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("notice verdicts: %w", classify(err))
		}
		return nil
	})
	if err != nil {
		return nil, store.Notice{}, fmt.Errorf("store: send notice %s: %w", id, err)
	}
	return copies, n, nil
}

// member is a user of the audience and its position.
type member struct{ user, pos string }

// nextAudience returns up to limit users of n's audience after its
// cursor, in position order (see audience), the cursor to continue from,
// and whether the audience is exhausted. It reads at most
// noticeScan(limit) candidates, in one pass that stops at the limit-th
// user of the audience.
func nextAudience(ctx context.Context, tx *Tx, n store.Notice, limit int) (users []string, next string, done bool, err error) {
	a := audience{n}
	scanMax := noticeScan(limit)
	q, args := a.candidates(n.Cursor)
	rows, err := tx.QueryContext(ctx, q, append(args, scanMax)...)
	if err != nil {
		return nil, "", false, fmt.Errorf("notice audience: %w", classify(err))
	}
	var got []member
	scanned, last := 0, ""
	for rows.Next() {
		var m member
		var in int64
		if err := rows.Scan(&m.user, &m.pos, &in); err != nil {
			rows.Close()
			return nil, "", false, fmt.Errorf("notice audience: %w", classify(err))
		}
		scanned, last = scanned+1, m.pos
		if in != 0 {
			if got = append(got, m); len(got) == limit {
				break
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", false, fmt.Errorf("notice audience: %w", classify(err))
	}
	// The candidates up to position upto have been considered ("": all).
	upto := last
	exhausted := len(got) < limit && scanned < scanMax
	if exhausted {
		upto = ""
	}
	if q, args := a.lost(n.Cursor, upto); q != "" {
		rows, err := tx.QueryContext(ctx, q+" LIMIT ?", append(args, limit)...)
		if err != nil {
			return nil, "", false, fmt.Errorf("notice audience: %w", classify(err))
		}
		more := false
		for rows.Next() {
			var m member
			if err := rows.Scan(&m.user, &m.pos); err != nil {
				rows.Close()
				return nil, "", false, fmt.Errorf("notice audience: %w", classify(err))
			}
			got, more = append(got, m), true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, "", false, fmt.Errorf("notice audience: %w", classify(err))
		}
		if more {
			// Both lists are in order and disjoint: keep the first limit.
			slices.SortFunc(got, func(x, y member) int { return strings.Compare(x.pos, y.pos) })
		}
	}
	switch {
	case len(got) >= limit:
		got, next = got[:limit], got[limit-1].pos
	case !exhausted:
		next = upto
	default:
		next, done = n.Cursor, true
		if len(got) > 0 {
			next = got[len(got)-1].pos
		}
	}
	users = make([]string, len(got))
	for i, m := range got {
		users[i] = m.user
	}
	return users, next, done, nil
}

// storeCopies appends n's copy to the system conversation of each of
// users (who exist: the caller read them in tx).
func storeCopies(ctx context.Context, tx *Tx, n store.Notice, users []string, now time.Time) ([]store.NoticeCopy, error) {
	if len(users) == 0 {
		return nil, nil
	}
	social := &protocol.SocialEvent{Notice: n.ID, Tags: strings.Join(n.To.Values(), " ")}
	entries := make([]store.SystemEntry, len(users))
	for i, u := range users {
		entries[i] = store.SystemEntry{User: u, Append: store.Append{
			Sender: protocol.SystemSender, Kind: protocol.KindMessage,
			ContentType: n.ContentType, Body: n.Body, Payload: n.Payload, Social: social,
		}}
	}
	res, err := appendSystem(ctx, tx, now, entries)
	if err != nil {
		return nil, err
	}
	copies := make([]store.NoticeCopy, 0, len(users))
	for i, r := range res {
		if r.Err != nil {
			// Not reachable: the users were read in this transaction.
			return nil, fmt.Errorf("notice copy for %s: %w", users[i], r.Err)
		}
		copies = append(copies, store.NoticeCopy{User: users[i], Message: r.Message})
	}
	return copies, nil
}

// AddNoticeDelivered adds to a notice's delivered count; see
// store.Notices.
func (db *DB) AddNoticeDelivered(ctx context.Context, id string, n int64) error {
	err := db.update(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE notices SET delivered = delivered + ? WHERE id = ?", n, id)
		if err != nil {
			return classify(err)
		}
		return mustAffect(res)
	})
	if err != nil {
		return fmt.Errorf("store: notice %s delivered: %w", id, err)
	}
	return nil
}

// CancelNotice stops sending a notice; see store.Notices.
func (db *DB) CancelNotice(ctx context.Context, id string, now time.Time) (store.Notice, error) {
	var n store.Notice
	err := db.update(ctx, func(tx *Tx) error {
		var err error
		if n, err = readNotice(ctx, tx, id); err != nil {
			return err
		}
		if n.State != store.NoticeSending {
			return nil
		}
		n.State, n.FinishedAt = store.NoticeCancelled, now
		if _, err := tx.ExecContext(ctx, "UPDATE notices SET state = ?, finished_at = ? WHERE id = ?", n.State, ms(now), id); err != nil {
			return classify(err)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM notice_verdicts WHERE notice_id = ?", id)
		return classify(err)
	})
	if err != nil {
		return store.Notice{}, fmt.Errorf("store: cancel notice %s: %w", id, err)
	}
	return n, nil
}
