package sqlite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

const convCols = "id, kind, name, created_by, created_at, last_seq, updated_at, max_age, purged_seq"

const memberCols = "conv_id, user_id, role, joined_seq, read_seq, delivered_seq"

// EnsureDirect returns the direct conversation of a and b, creating it with
// id newID (both users members with role "member", created by a) if it does
// not exist. The pair is stored sorted, so (a, b) and (b, a) find the same
// conversation; concurrent calls create it once. store.ErrInvalid if a == b
// or an id is empty; store.ErrExists if newID names another conversation;
// store.ErrNotFound if it would be created with a deleted user.
func (db *DB) EnsureDirect(ctx context.Context, newID, a, b string, now time.Time) (store.Conversation, error) {
	if a == "" || b == "" || a == b {
		return store.Conversation{}, fmt.Errorf("store: ensure direct: %w: need two different users", store.ErrInvalid)
	}
	lo, hi := min(a, b), max(a, b)
	// The common case, an existing conversation, needs no write lock.
	c, err := directConv(ctx, db.r, lo, hi)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Conversation{}, fmt.Errorf("store: ensure direct: %w", err)
	}
	err = db.update(ctx, func(tx *Tx) error {
		var err error
		if c, err = directConv(ctx, tx, lo, hi); !errors.Is(err, store.ErrNotFound) {
			return err // found (nil) or failed
		}
		if newID == "" {
			return fmt.Errorf("%w: empty conversation id", store.ErrInvalid)
		}
		if deleted, err := anyDeleted(ctx, tx, a, b); err != nil || deleted {
			return cmp.Or(err, fmt.Errorf("%w: a deleted user", store.ErrNotFound))
		}
		t := fromMS(ms(now))
		c = store.Conversation{ID: newID, Kind: protocol.ConvDirect, CreatedBy: a, CreatedAt: t, UpdatedAt: t}
		if err := insertConversation(ctx, tx, c); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO directs (user_lo, user_hi, conv_id) VALUES (?, ?, ?)", lo, hi, newID); err != nil {
			return classify(err)
		}
		return insertMembers(ctx, tx, newID, []store.Member{
			{User: lo, Role: protocol.RoleMember},
			{User: hi, Role: protocol.RoleMember},
		})
	})
	if err != nil {
		return store.Conversation{}, fmt.Errorf("store: ensure direct: %w", err)
	}
	return c, nil
}

// directConv finds the direct conversation of the sorted pair (lo, hi).
func directConv(ctx context.Context, q querier, lo, hi string) (store.Conversation, error) {
	return scanConv(q.QueryRowContext(ctx,
		"SELECT c.id, c.kind, c.name, c.created_by, c.created_at, c.last_seq, c.updated_at, c.max_age, c.purged_seq "+
			"FROM directs AS d JOIN conversations AS c ON c.id = d.conv_id "+
			"WHERE d.user_lo = ? AND d.user_hi = ?", lo, hi))
}

// CreateGroup stores a group, its members and its one "created" event in
// one transaction; see store.Conversations.CreateGroup. The creator is
// c.CreatedBy, always a member with role owner whether or not members names
// it; the other members keep their order (repeats are skipped) and their
// Role (default member). Every initial member has JoinedSeq 0: each sees the
// creation event, seq 1, whatever the number of members. c.Kind must be
// empty or protocol.ConvGroup; UpdatedAt is set to CreatedAt. The returned
// event is the stored message.
func (db *DB) CreateGroup(ctx context.Context, c store.Conversation, members []store.Member) (protocol.Message, error) {
	if c.ID == "" || c.CreatedBy == "" || (c.Kind != "" && c.Kind != protocol.ConvGroup) {
		return protocol.Message{}, fmt.Errorf("store: create group: %w: need an id, a creator and kind group", store.ErrInvalid)
	}
	c.Kind = protocol.ConvGroup
	c.CreatedAt = fromMS(ms(c.CreatedAt))
	c.UpdatedAt = c.CreatedAt

	all := []store.Member{{User: c.CreatedBy, Role: protocol.RoleOwner}}
	seen := map[string]bool{c.CreatedBy: true}
	for _, m := range members {
		if m.User == "" {
			return protocol.Message{}, fmt.Errorf("store: create group: %w: member without a user", store.ErrInvalid)
		}
		if seen[m.User] {
			continue
		}
		seen[m.User] = true
		if m.Role == "" {
			m.Role = protocol.RoleMember
		}
		if !validRole(m.Role) {
			return protocol.Message{}, fmt.Errorf("store: create group: %w: unknown role", store.ErrInvalid)
		}
		all = append(all, store.Member{User: m.User, Role: m.Role})
	}
	id, err := newMessageID()
	if err != nil {
		return protocol.Message{}, fmt.Errorf("store: create group: %w", err)
	}
	event := &protocol.Message{
		Conv:   c.ID,
		Seq:    1,
		ID:     id,
		From:   c.CreatedBy,
		Kind:   protocol.KindMember,
		Member: &protocol.MemberChange{User: c.CreatedBy, Action: protocol.MemberCreated, Name: c.Name},
		Time:   ms(c.CreatedAt),
	}
	c.LastSeq = event.Seq

	users := make([]string, len(all))
	for i, m := range all {
		users[i] = m.User
	}
	err = db.update(ctx, func(tx *Tx) error {
		if deleted, err := anyDeleted(ctx, tx, users...); err != nil || deleted {
			return cmp.Or(err, fmt.Errorf("%w: a member is a deleted user", store.ErrNotFound))
		}
		if err := insertConversation(ctx, tx, c); err != nil {
			return err
		}
		if err := insertMembers(ctx, tx, c.ID, all); err != nil {
			return err
		}
		return insertMessages(ctx, tx, []*protocol.Message{event}, nil) // no content: counts are 0
	})
	if err != nil {
		return protocol.Message{}, fmt.Errorf("store: create group: %w", err)
	}
	return *event, nil
}

// insertConversation stores c; store.ErrExists if the id is taken.
func insertConversation(ctx context.Context, tx *Tx, c store.Conversation) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO conversations ("+convCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.Kind, c.Name, c.CreatedBy, ms(c.CreatedAt), int64(c.LastSeq), ms(c.UpdatedAt),
		max(c.MaxAge.Milliseconds(), 0), int64(c.PurgedSeq))
	return classify(err)
}

// insertMembers stores the initial members of a new conversation (JoinedSeq
// and positions 0), and their participants rows, with multi-row INSERTs.
func insertMembers(ctx context.Context, tx *Tx, conv string, members []store.Member) error {
	var args []any
	for _, size := range chunkSizes(len(members)) {
		args = args[:0]
		for _, m := range members[:size] {
			args = append(args, conv, m.User, m.Role)
		}
		members = members[size:]
		q := "INSERT INTO members (conv_id, user_id, role) VALUES " + valuesList(size, 3)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert members: %w", classify(err))
		}
		// WHERE true: without it SQLite would read the ON of ON CONFLICT
		// as a join's.
		q = "INSERT INTO participants (conv_id, user_id) SELECT v.column1, v.column2 FROM (VALUES " +
			valuesList(size, 3) + ") AS v WHERE true ON CONFLICT DO NOTHING"
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert participants: %w", classify(err))
		}
	}
	return nil
}

// addParticipant records that user is (and so was) a member of conv.
func addParticipant(ctx context.Context, tx *Tx, conv, user string) error {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO participants (user_id, conv_id) VALUES (?, ?) ON CONFLICT DO NOTHING", user, conv)
	return classify(err)
}

// Conversation returns the conversation; store.ErrNotFound if absent.
func (db *DB) Conversation(ctx context.Context, id string) (store.Conversation, error) {
	c, err := scanConv(db.r.QueryRowContext(ctx, "SELECT "+convCols+" FROM conversations WHERE id = ?", id))
	if err != nil {
		return store.Conversation{}, fmt.Errorf("store: conversation: %w", err)
	}
	return c, nil
}

// scanConv reads the convCols of one row; store.ErrNotFound if none.
func scanConv(r rowScanner) (store.Conversation, error) {
	var c store.Conversation
	var created, updated, last, maxAge, purged int64
	if err := r.Scan(&c.ID, &c.Kind, &c.Name, &c.CreatedBy, &created, &last, &updated, &maxAge, &purged); err != nil {
		return store.Conversation{}, classify(err)
	}
	c.CreatedAt = fromMS(created)
	c.UpdatedAt = fromMS(updated)
	c.LastSeq = uint64(last)
	c.MaxAge = time.Duration(maxAge) * time.Millisecond
	c.PurgedSeq = uint64(purged)
	return c, nil
}

// Member returns a current member; store.ErrNotFound if the user is not one.
func (db *DB) Member(ctx context.Context, conv, user string) (store.Member, error) {
	m, err := scanMember(db.r.QueryRowContext(ctx,
		"SELECT "+memberCols+" FROM members WHERE conv_id = ? AND user_id = ?", conv, user))
	if err != nil {
		return store.Member{}, fmt.Errorf("store: member: %w", err)
	}
	return m, nil
}

// Members returns the current members ordered by user id.
func (db *DB) Members(ctx context.Context, conv string) ([]store.Member, error) {
	rows, err := db.r.QueryContext(ctx,
		"SELECT "+memberCols+" FROM members WHERE conv_id = ? ORDER BY user_id", conv)
	if err != nil {
		return nil, fmt.Errorf("store: members: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("store: members: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: members: %w", classify(err))
	}
	return out, nil
}

// scanMember reads the memberCols of one row; store.ErrNotFound if none.
func scanMember(r rowScanner) (store.Member, error) {
	var m store.Member
	var joined, read, delivered int64
	if err := r.Scan(&m.Conv, &m.User, &m.Role, &joined, &read, &delivered); err != nil {
		return store.Member{}, classify(err)
	}
	m.JoinedSeq, m.ReadSeq, m.DeliveredSeq = uint64(joined), uint64(read), uint64(delivered)
	return m, nil
}

// MemberIDs returns the user ids of the current members, ordered by id.
func (db *DB) MemberIDs(ctx context.Context, conv string) ([]string, error) {
	ids, err := db.strings(ctx, "SELECT user_id FROM members WHERE conv_id = ? ORDER BY user_id", conv)
	if err != nil {
		return nil, fmt.Errorf("store: member ids: %w", err)
	}
	return ids, nil
}

// UserConversations returns the ids of every conversation the user is a
// member of (ordered by id, which the contract does not promise).
func (db *DB) UserConversations(ctx context.Context, user string) ([]string, error) {
	ids, err := db.strings(ctx, "SELECT conv_id FROM members WHERE user_id = ? ORDER BY conv_id", user)
	if err != nil {
		return nil, fmt.Errorf("store: user conversations: %w", err)
	}
	return ids, nil
}

// strings runs a query of one text column on a reader.
func (db *DB) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	return queryStrings(ctx, db.r, q, args...)
}
