package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

var _ store.GroupLinks = (*DB)(nil)

// usable is the condition of a link that can be used at ?1.
const usable = "expires_at > ?1 AND (max_uses = 0 OR uses < max_uses)"

// CreateLink stores an invite link; see store.GroupLinks.
func (db *DB) CreateLink(ctx context.Context, l store.GroupLink, max int) error {
	err := db.update(ctx, func(tx *Tx) error {
		if _, err := groupAdmin(ctx, tx, l.Conv, l.CreatedBy); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM group_links WHERE conv_id = ?2 AND NOT ("+usable+")",
			ms(l.CreatedAt), l.Conv); err != nil {
			return classify(err)
		}
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM group_links WHERE conv_id = ?", l.Conv).Scan(&n); err != nil {
				return classify(err)
			}
			if n >= max {
				return fmt.Errorf("%w: the group has %d links", store.ErrLimit, n)
			}
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO group_links (token, conv_id, created_by, created_at, expires_at, max_uses, uses) VALUES (?, ?, ?, ?, ?, ?, 0)",
			l.Token, l.Conv, l.CreatedBy, ms(l.CreatedAt), ms(l.ExpiresAt), l.MaxUses)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: create link: %w", err)
	}
	return nil
}

// RevokeLink deletes an invite link; see store.GroupLinks.
func (db *DB) RevokeLink(ctx context.Context, conv, actor, token string) error {
	err := db.update(ctx, func(tx *Tx) error {
		if _, err := groupAdmin(ctx, tx, conv, actor); err != nil {
			return err
		}
		ok, err := deletedRow(ctx, tx, "DELETE FROM group_links WHERE token = ? AND conv_id = ?", token, conv)
		if err == nil && !ok {
			err = fmt.Errorf("%w: no such link of %s", store.ErrNotFound, conv)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("store: revoke link: %w", err)
	}
	return nil
}

// Links lists a group's usable links; see store.GroupLinks.
func (db *DB) Links(ctx context.Context, conv string, now time.Time) ([]store.GroupLink, error) {
	out, err := queryAll(ctx, db.r, func(r rowScanner) (store.GroupLink, error) {
		var l store.GroupLink
		var created, expires int64
		err := r.Scan(&l.Token, &l.Conv, &l.CreatedBy, &created, &expires, &l.MaxUses, &l.Uses)
		l.CreatedAt, l.ExpiresAt = fromMS(created), fromMS(expires)
		return l, classify(err)
	}, "SELECT token, conv_id, created_by, created_at, expires_at, max_uses, uses FROM group_links WHERE conv_id = ?2 AND "+usable+
		" ORDER BY created_at DESC, token DESC", ms(now), conv)
	if err != nil {
		return nil, fmt.Errorf("store: links: %w", err)
	}
	return out, nil
}

// memberCount counts conv's members.
func memberCount(ctx context.Context, q querier, conv string) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM members WHERE conv_id = ?", conv).Scan(&n)
	return n, classify(err)
}

// JoinByLink joins a group with a link, or asks to; see store.GroupLinks.
func (db *DB) JoinByLink(ctx context.Context, token, user string, maxMembers int, now time.Time) (store.InviteChange, error) {
	return db.inviteTx(ctx, "join by link", now, func(tx *Tx) (groupWrite, error) {
		var conv string
		var expires int64
		var maxUses, uses int
		err := tx.QueryRowContext(ctx, "SELECT conv_id, expires_at, max_uses, uses FROM group_links WHERE token = ?", token).
			Scan(&conv, &expires, &maxUses, &uses)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return groupWrite{}, fmt.Errorf("%w: no such link", store.ErrNotFound)
		case err != nil:
			return groupWrite{}, classify(err)
		case expires <= ms(now) || (maxUses > 0 && uses >= maxUses):
			return groupWrite{}, fmt.Errorf("%w: the link has expired or was used up", store.ErrExpired)
		}
		if err := liveUser(ctx, tx, user); err != nil {
			return groupWrite{}, err
		}
		name, role, err := groupAndRole(ctx, tx, conv, user)
		switch {
		case err != nil:
			return groupWrite{}, err
		case role != "":
			return groupWrite{}, fmt.Errorf("%w: a member already", store.ErrExists)
		}
		w := groupWrite{ch: store.InviteChange{Conv: conv, Name: name}}
		settings, err := groupSettings(ctx, tx, conv)
		if err != nil {
			return groupWrite{}, err
		}
		if !settings.JoinApproval {
			if _, err := tx.ExecContext(ctx, "UPDATE group_links SET uses = uses + 1 WHERE token = ?", token); err != nil {
				return groupWrite{}, classify(err)
			}
			w.join = joinEntry(conv, user, maxMembers)
			return w, nil
		}
		w.ch.Requested = true
		if maxMembers > 0 {
			// Refused now rather than approved into a full group later
			// (where approving fails too).
			if n, err := memberCount(ctx, tx, conv); err != nil {
				return groupWrite{}, err
			} else if n >= maxMembers {
				return groupWrite{}, fmt.Errorf("%w: the group has %d members", store.ErrLimit, n)
			}
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO group_join_requests (conv_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			conv, user, ms(now))
		if err != nil {
			return groupWrite{}, classify(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return w, err // pending already: nothing new
		}
		if _, err := tx.ExecContext(ctx, "UPDATE group_links SET uses = uses + 1 WHERE token = ?", token); err != nil {
			return groupWrite{}, classify(err)
		}
		admins, err := groupAdmins(ctx, tx, conv)
		if err != nil {
			return groupWrite{}, err
		}
		for _, a := range admins {
			w.system = append(w.system, inviteEntry(a, user, protocol.InviteJoinRequest, user, conv, name))
		}
		w.system = append(w.system, inviteEntry(user, user, protocol.InviteJoinRequested, "", conv, name))
		return w, nil
	})
}

// AnswerJoinRequest approves or denies a join request; see
// store.GroupLinks.
func (db *DB) AnswerJoinRequest(ctx context.Context, conv, actor, user string, approve bool, maxMembers int, now time.Time) (store.InviteChange, error) {
	return db.inviteTx(ctx, "answer join request", now, func(tx *Tx) (groupWrite, error) {
		name, err := groupAdmin(ctx, tx, conv, actor)
		if err != nil {
			return groupWrite{}, err
		}
		ok, err := deletedRow(ctx, tx, "DELETE FROM group_join_requests WHERE conv_id = ? AND user_id = ?", conv, user)
		if err != nil {
			return groupWrite{}, err
		}
		if !ok {
			return groupWrite{}, fmt.Errorf("%w: no join request of %s to %s", store.ErrNotFound, user, conv)
		}
		w := groupWrite{ch: store.InviteChange{Conv: conv, Name: name}}
		action := protocol.InviteJoinDenied
		if approve {
			action = protocol.InviteJoinApproved
			w.join = joinEntry(conv, user, maxMembers)
		}
		admins, err := groupAdmins(ctx, tx, conv)
		if err != nil {
			return groupWrite{}, err
		}
		w.system = append(w.system, inviteEntry(user, actor, action, actor, conv, name))
		for _, a := range admins {
			w.system = append(w.system, inviteEntry(a, actor, action, user, conv, name))
		}
		return w, nil
	})
}

// JoinRequests pages a group's pending join requests; see
// store.GroupLinks.
func (db *DB) JoinRequests(ctx context.Context, conv, after string, limit int) ([]store.JoinRequest, error) {
	if limit <= 0 {
		return nil, nil
	}
	out, err := queryAll(ctx, db.r, func(rs rowScanner) (store.JoinRequest, error) {
		var r store.JoinRequest
		var at int64
		err := rs.Scan(&r.Conv, &r.User, &at)
		r.CreatedAt = fromMS(at)
		return r, classify(err)
	}, "SELECT conv_id, user_id, created_at FROM group_join_requests WHERE conv_id = ? AND user_id > ? ORDER BY user_id LIMIT ?",
		conv, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: join requests: %w", err)
	}
	return out, nil
}

// groupSettings reads conv's settings (the zero value without a row).
func groupSettings(ctx context.Context, q querier, conv string) (store.GroupSettings, error) {
	var approval int64
	err := q.QueryRowContext(ctx, "SELECT join_approval FROM group_settings WHERE conv_id = ?", conv).Scan(&approval)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.GroupSettings{}, nil
	case err != nil:
		return store.GroupSettings{}, classify(err)
	}
	return store.GroupSettings{JoinApproval: approval != 0}, nil
}

// GroupSettings returns a group's settings; see store.GroupLinks.
func (db *DB) GroupSettings(ctx context.Context, conv string) (store.GroupSettings, error) {
	s, err := groupSettings(ctx, db.r, conv)
	if err != nil {
		return store.GroupSettings{}, fmt.Errorf("store: group settings: %w", err)
	}
	return s, nil
}

// SetGroupSettings stores a group's settings; see store.GroupLinks.
func (db *DB) SetGroupSettings(ctx context.Context, conv, actor string, s store.GroupSettings) error {
	err := db.update(ctx, func(tx *Tx) error {
		if _, err := groupAdmin(ctx, tx, conv, actor); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO group_settings (conv_id, join_approval) VALUES (?, ?)
			 ON CONFLICT (conv_id) DO UPDATE SET join_approval = excluded.join_approval`, conv, boolInt(s.JoinApproval))
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: set group settings: %w", err)
	}
	return nil
}
