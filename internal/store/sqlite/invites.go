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

var _ store.Invites = (*DB)(nil)

// groupWrite is what one write of Invites or GroupLinks stores besides its
// own tables: at most one entry of the group (a join) and entries of
// system conversations.
type groupWrite struct {
	ch     store.InviteChange
	join   *store.Append
	system []store.SystemEntry
}

// inviteTx runs fn in a write transaction and appends what it returns in
// that transaction: the group's entry first (a per-entry failure, such as
// ErrLimit, fails the whole write), then the system entries, leaving out
// those of users deleted meanwhile.
func (db *DB) inviteTx(ctx context.Context, what string, now time.Time, fn func(tx *Tx) (groupWrite, error)) (store.InviteChange, error) {
	var ch store.InviteChange
	err := db.update(ctx, func(tx *Tx) error {
		w, err := fn(tx)
		if err != nil {
			return err
		}
		ch = w.ch
		if w.join != nil {
			out := make([]store.AppendResult, 1)
			if err := newBatch(ctx, tx, ms(now), 1).run([]store.Append{*w.join}, out); err != nil {
				return err
			}
			if out[0].Err != nil {
				return out[0].Err
			}
			m := out[0].Message
			ch.Joined = &m
			ch.Events = append(ch.Events, m)
		}
		if len(w.system) == 0 {
			return nil
		}
		res, err := appendSystem(ctx, tx, now, w.system)
		if err != nil {
			return err
		}
		for _, r := range res {
			switch {
			case errors.Is(r.Err, store.ErrNotFound):
				// A user deleted meanwhile: nobody to tell.
			case r.Err != nil:
				return r.Err
			default:
				ch.Events = append(ch.Events, r.Message)
			}
		}
		return nil
	})
	if err != nil {
		return store.InviteChange{}, fmt.Errorf("store: %s: %w", what, err)
	}
	return ch, nil
}

// inviteEntry is an entry of kind protocol.KindInvite about group (named
// name) in owner's system conversation, by sender, naming about.
func inviteEntry(owner, sender, action, about, group, name string) store.SystemEntry {
	return store.SystemEntry{User: owner, Append: store.Append{Sender: sender, Kind: protocol.KindInvite,
		Social: &protocol.SocialEvent{Action: action, User: about, Group: group, Name: name}}}
}

// joinEntry is the group's entry of user's joining.
func joinEntry(conv, user string, maxMembers int) *store.Append {
	return &store.Append{Conv: conv, Sender: user, Kind: protocol.KindMember, SkipMemberCheck: true, MaxMembers: maxMembers,
		Member: &protocol.MemberChange{User: user, Action: protocol.MemberJoined, Role: protocol.RoleMember}}
}

// groupAndRole returns the name of the group conv and user's role in it
// ("" if not a member); store.ErrNotFound if conv is not a group.
func groupAndRole(ctx context.Context, q querier, conv, user string) (name, role string, err error) {
	var kind string
	err = q.QueryRowContext(ctx,
		`SELECT c.name, c.kind, COALESCE(m.role, '') FROM conversations AS c
		 LEFT JOIN members AS m ON m.conv_id = c.id AND m.user_id = ? WHERE c.id = ?`, user, conv).Scan(&name, &kind, &role)
	if err != nil {
		return "", "", classify(err)
	}
	if kind != protocol.ConvGroup {
		return "", "", fmt.Errorf("%w: %s is not a group", store.ErrNotFound, conv)
	}
	return name, role, nil
}

// groupAdmin returns the name of the group conv if actor is its owner or
// an admin: store.ErrNotFound if actor is not a member (or conv no
// group), store.ErrForbidden for a plain member.
func groupAdmin(ctx context.Context, q querier, conv, actor string) (string, error) {
	name, role, err := groupAndRole(ctx, q, conv, actor)
	switch {
	case err != nil:
		return "", err
	case role == "":
		return "", fmt.Errorf("%w: not a member of %s", store.ErrNotFound, conv)
	case protocol.RoleRank(role) < protocol.RoleRank(protocol.RoleAdmin):
		return "", fmt.Errorf("%w: only the owner and admins of %s may", store.ErrForbidden, conv)
	}
	return name, nil
}

// groupAdmins returns the owner and admins of conv, ordered by id.
func groupAdmins(ctx context.Context, q querier, conv string) ([]string, error) {
	return queryStrings(ctx, q, "SELECT user_id FROM members WHERE conv_id = ? AND role IN ('"+
		protocol.RoleOwner+"', '"+protocol.RoleAdmin+"') ORDER BY user_id", conv)
}

// dropPending deletes user's pending invitation and join request to conv:
// the batch calls it when user becomes a member.
func dropPending(ctx context.Context, tx *Tx, conv, user string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM group_invites WHERE conv_id = ? AND invitee = ?", conv, user); err != nil {
		return classify(err)
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM group_join_requests WHERE conv_id = ? AND user_id = ?", conv, user)
	return classify(err)
}

// Invite stores pending invitations; see store.Invites.
func (db *DB) Invite(ctx context.Context, conv, inviter string, invitees []string, now time.Time) (store.InviteChange, error) {
	return db.inviteTx(ctx, "invite", now, func(tx *Tx) (groupWrite, error) {
		name, err := groupAdmin(ctx, tx, conv, inviter)
		if err != nil {
			return groupWrite{}, err
		}
		w := groupWrite{ch: store.InviteChange{Conv: conv, Name: name}}
		for _, u := range invitees {
			if u == inviter {
				return groupWrite{}, fmt.Errorf("%w: an invitation to oneself", store.ErrInvalid)
			}
			if err := liveUser(ctx, tx, u); err != nil {
				return groupWrite{}, fmt.Errorf("user %s: %w", u, err)
			}
			blocked, err := found(ctx, tx, "SELECT 1 FROM blocks WHERE user_id = ? AND blocked_id = ?", u, inviter)
			if err != nil {
				return groupWrite{}, err
			}
			if blocked {
				// The same answer as an unknown user: the inviter is not told.
				return groupWrite{}, fmt.Errorf("user %s: %w", u, store.ErrNotFound)
			}
			member, err := found(ctx, tx, "SELECT 1 FROM members WHERE conv_id = ? AND user_id = ?", conv, u)
			if err != nil {
				return groupWrite{}, err
			}
			if member {
				return groupWrite{}, fmt.Errorf("user %s: %w: a member already", u, store.ErrExists)
			}
			res, err := tx.ExecContext(ctx, "INSERT INTO group_invites (conv_id, invitee, inviter, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
				conv, u, inviter, ms(now))
			if err != nil {
				return groupWrite{}, classify(err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return groupWrite{}, err
			} else if n == 0 {
				w.ch.Pending = append(w.ch.Pending, u)
				continue
			}
			w.ch.Invited = append(w.ch.Invited, u)
			w.system = append(w.system, inviteEntry(u, inviter, protocol.InviteInvited, inviter, conv, name))
		}
		return w, nil
	})
}

// takeInvite deletes invitee's pending invitation to conv and returns its
// inviter; store.ErrNotFound if there is none.
func takeInvite(ctx context.Context, tx *Tx, conv, invitee string) (string, error) {
	var inviter string
	err := tx.QueryRowContext(ctx, "DELETE FROM group_invites WHERE conv_id = ? AND invitee = ? RETURNING inviter", conv, invitee).Scan(&inviter)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: no invitation of %s to %s", store.ErrNotFound, invitee, conv)
	}
	return inviter, classify(err)
}

// AnswerInvite accepts or declines an invitation; see store.Invites.
func (db *DB) AnswerInvite(ctx context.Context, conv, invitee string, accept bool, maxMembers int, now time.Time) (store.InviteChange, error) {
	return db.inviteTx(ctx, "answer invitation", now, func(tx *Tx) (groupWrite, error) {
		inviter, err := takeInvite(ctx, tx, conv, invitee)
		if err != nil {
			return groupWrite{}, err
		}
		name, _, err := groupAndRole(ctx, tx, conv, invitee)
		if err != nil {
			return groupWrite{}, err
		}
		w := groupWrite{ch: store.InviteChange{Conv: conv, Name: name}}
		if accept {
			w.join = joinEntry(conv, invitee, maxMembers)
			w.system = []store.SystemEntry{inviteEntry(invitee, invitee, protocol.InviteAccepted, inviter, conv, name)}
			return w, nil
		}
		w.system = []store.SystemEntry{
			inviteEntry(invitee, invitee, protocol.InviteDeclined, inviter, conv, name),
			inviteEntry(inviter, invitee, protocol.InviteDeclined, invitee, conv, name),
		}
		return w, nil
	})
}

// RevokeInvite withdraws an invitation; see store.Invites.
func (db *DB) RevokeInvite(ctx context.Context, conv, actor, invitee string, now time.Time) (store.InviteChange, error) {
	return db.inviteTx(ctx, "revoke invitation", now, func(tx *Tx) (groupWrite, error) {
		name, err := groupAdmin(ctx, tx, conv, actor)
		if err != nil {
			return groupWrite{}, err
		}
		if _, err := takeInvite(ctx, tx, conv, invitee); err != nil {
			return groupWrite{}, err
		}
		return groupWrite{ch: store.InviteChange{Conv: conv, Name: name},
			system: []store.SystemEntry{inviteEntry(invitee, actor, protocol.InviteRevoked, actor, conv, name)}}, nil
	})
}

// invitationCols select an Invitation (queryInvitations).
const invitationCols = `SELECT i.conv_id, c.name, i.invitee, i.inviter, i.created_at FROM group_invites AS i
	JOIN conversations AS c ON c.id = i.conv_id `

// GroupInvites pages a group's pending invitations; see store.Invites.
func (db *DB) GroupInvites(ctx context.Context, conv, after string, limit int) ([]store.Invitation, error) {
	out, err := db.queryInvitations(ctx, invitationCols+"WHERE i.conv_id = ? AND i.invitee > ? ORDER BY i.invitee LIMIT ?", conv, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: group invitations: %w", err)
	}
	return out, nil
}

// UserInvites pages a user's pending invitations; see store.Invites.
func (db *DB) UserInvites(ctx context.Context, user, after string, limit int) ([]store.Invitation, error) {
	out, err := db.queryInvitations(ctx, invitationCols+"WHERE i.invitee = ? AND i.conv_id > ? ORDER BY i.conv_id LIMIT ?", user, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: user invitations: %w", err)
	}
	return out, nil
}

func (db *DB) queryInvitations(ctx context.Context, q string, key, after string, limit int) ([]store.Invitation, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(ctx, db.r, func(r rowScanner) (store.Invitation, error) {
		var i store.Invitation
		var at int64
		err := r.Scan(&i.Conv, &i.Name, &i.Invitee, &i.Inviter, &at)
		i.CreatedAt = fromMS(at)
		return i, classify(err)
	}, q, key, after, limit)
}
