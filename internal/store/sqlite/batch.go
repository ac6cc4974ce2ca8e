package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// batch applies the entries of one Append inside its write transaction.
//
// The entries are decided one by one, in order, against the state the
// batch has built so far (the database as of the transaction's start plus
// the effect of the earlier entries): membership, edit targets and dedupe
// keys are cached in memory. Content rows are inserted together at the end
// with multi-row INSERTs; the rarer side effects (edits of stored messages,
// membership changes, renames) are written as they are decided. Seqs are
// assigned from each conversation's last_seq read at the start, and written
// back with one UPDATE ... RETURNING per conversation that verifies them.
type batch struct {
	ctx context.Context
	tx  *Tx
	now int64

	convs     map[string]*convState
	convOrder []string // conversations in order of first use
	members   map[memberKey]bool
	erasers   map[string]bool       // users being erased (erasing)
	roles     map[memberKey]string  // roles read or changed in this batch
	targets   map[targetKey]*target // nil value: looked up, absent
	prior     map[dedupeKey]protocol.Message
	seen      map[dedupeKey]*protocol.Message
	held      []heldKey // packet keys the batch's messages take (packetkeys.go)
	rows      []*protocol.Message
	reads     map[memberKey]uint64
	readOrder []memberKey
	deleted   []targetKey    // content messages deleted by this batch (unread.go)
	counts    map[string]int // member counts of groups, once counted (memberLimit)
}

// convState is a conversation as the batch sees it.
type convState struct {
	exists bool
	base   uint64 // last_seq at the start of the transaction
	n      uint64 // seqs assigned by this batch

	content uint64 // content_count at the start of the transaction
	nc      uint64 // content messages added by this batch (contentCounts)
	deleted uint64 // deleted_count at the start of the transaction
}

type memberKey struct{ conv, user string }

type targetKey struct {
	conv string
	seq  uint64
}

type dedupeKey struct{ sender, clientMsgID string }

// target is a message that an edit or delete may refer to.
type target struct {
	sender  string
	kind    string
	deleted bool
	row     *protocol.Message // the pending row if stored by this batch
}

func newBatch(ctx context.Context, tx *Tx, now int64, size int) *batch {
	return &batch{
		ctx:     ctx,
		tx:      tx,
		now:     now,
		convs:   make(map[string]*convState),
		members: make(map[memberKey]bool),
		erasers: make(map[string]bool),
		roles:   make(map[memberKey]string),
		targets: make(map[targetKey]*target),
		prior:   make(map[dedupeKey]protocol.Message),
		seen:    make(map[dedupeKey]*protocol.Message),
		rows:    make([]*protocol.Message, 0, size),
		reads:   make(map[memberKey]uint64),
	}
}

// run decides every entry into res and writes the batch. A returned error
// is a storage failure: the transaction must be rolled back.
func (b *batch) run(entries []store.Append, res []store.AppendResult) error {
	if err := b.loadPrior(entries); err != nil {
		return err
	}
	if err := b.loadPacketKeys(entries); err != nil {
		return err
	}
	if err := b.loadState(entries); err != nil {
		return err
	}
	for i := range entries {
		r, err := b.apply(&entries[i])
		if err != nil {
			return err
		}
		res[i] = r
	}
	if err := b.flush(); err != nil {
		return err
	}
	return b.writePacketKeys()
}

// apply decides one entry. Per-entry failures are returned in the result;
// the error is for storage failures only.
func (b *batch) apply(e *store.Append) (store.AppendResult, error) {
	if e.Conv == "" || e.Sender == "" {
		return failed(store.ErrInvalid, "empty conversation or sender"), nil
	}
	if e.ClientMsgID != "" {
		k := dedupeKey{e.Sender, e.ClientMsgID}
		if m, ok := b.seen[k]; ok {
			return store.AppendResult{Message: *m, Duplicate: true}, nil
		}
		if m, ok := b.prior[k]; ok {
			return store.AppendResult{Message: m, Duplicate: true}, nil
		}
	}
	if e.PacketKey != "" {
		k := packetKey(e.Sender, e.PacketKey)
		if m, ok := b.seen[k]; ok {
			return store.AppendResult{Message: *m, Duplicate: true}, nil
		}
		if m, ok := b.prior[k]; ok {
			return store.AppendResult{Message: m, Duplicate: true}, nil
		}
	}
	if !e.SkipMemberCheck {
		ok, err := b.isMember(e.Conv, e.Sender)
		if err != nil {
			return store.AppendResult{}, err
		}
		if !ok {
			return failed(store.ErrNotMember, "sender is not a member"), nil
		}
		if erasing, err := b.erasing(e.Sender); err != nil {
			return store.AppendResult{}, err
		} else if erasing {
			return failed(store.ErrNotMember, "sender is being erased"), nil
		}
	}
	cs := b.conv(e.Conv)
	if !cs.exists {
		return failed(store.ErrNotFound, "no such conversation"), nil
	}
	id, err := newMessageID()
	if err != nil {
		return store.AppendResult{}, err
	}
	m := &protocol.Message{
		Conv:        e.Conv,
		Seq:         cs.base + cs.n + 1,
		ID:          id,
		From:        e.Sender,
		ClientMsgID: e.ClientMsgID,
		Kind:        e.Kind,
		ContentType: e.ContentType,
		Body:        e.Body,
		Payload:     bytes.Clone(e.Payload), // the caller may reuse its buffer
		Encrypted:   e.Encrypted,
		Target:      e.Target,
		Time:        b.now,
	}
	if e.Member != nil {
		mc := *e.Member
		m.Member = &mc
	}
	if e.Social != nil {
		se := *e.Social
		m.Social = &se
	}
	var fail error
	switch e.Kind {
	case protocol.KindMessage:
	case protocol.KindFriend, protocol.KindInvite, protocol.KindFollow:
		// Entries of the social graph are written by the server into
		// system conversations (appendSystem), whose store methods apply
		// their state themselves.
		if e.Social == nil || e.Member != nil || !e.SkipMemberCheck || !isSystemConv(e.Conv) {
			fail = fmt.Errorf("%w: a social entry needs its event and a system conversation", store.ErrInvalid)
		}
	case protocol.KindEdit, protocol.KindDelete:
		fail, err = b.applyEdit(e)
	case protocol.KindMember:
		if fail, err = b.authorize(e); err == nil && fail == nil {
			fail, err = b.applyMember(m, e.MaxMembers)
		}
	case protocol.KindSystem:
		if fail, err = b.authorize(e); err == nil && fail == nil {
			fail, err = b.applySystem(e)
		}
	default:
		fail = fmt.Errorf("%w: unknown message kind", store.ErrInvalid)
	}
	if err != nil {
		return store.AppendResult{}, err
	}
	if fail != nil {
		return store.AppendResult{Err: fail}, nil
	}

	cs.n++
	b.rows = append(b.rows, m)
	b.targets[targetKey{m.Conv, m.Seq}] = &target{sender: m.From, kind: m.Kind, row: m}
	if m.ClientMsgID != "" {
		b.seen[dedupeKey{m.From, m.ClientMsgID}] = m
	}
	if e.PacketKey != "" {
		b.holdPacketKey(e.PacketKey, m)
	}
	// Sending advances the sender's read position; the server's own
	// notices (SystemSender) have no member to advance.
	if m.Kind == protocol.KindMessage && m.From != protocol.SystemSender {
		k := memberKey{m.Conv, m.From}
		if _, ok := b.reads[k]; !ok {
			b.readOrder = append(b.readOrder, k)
		}
		b.reads[k] = m.Seq
	}
	return store.AppendResult{Message: *m}, nil
}

// failed is a per-entry failure result.
func failed(sentinel error, why string) store.AppendResult {
	return store.AppendResult{Err: fmt.Errorf("%w: %s", sentinel, why)}
}

// applyEdit checks and applies an edit or a delete of an earlier message.
// It returns the per-entry failure, or a storage error.
func (b *batch) applyEdit(e *store.Append) (fail, err error) {
	t, err := b.target(e.Conv, e.Target)
	if err != nil {
		return nil, err
	}
	switch {
	case t == nil:
		return fmt.Errorf("%w: no message with the target seq", store.ErrNotFound), nil
	case t.sender != e.Sender:
		return fmt.Errorf("%w: the target is another user's message", store.ErrForbidden), nil
	case t.kind != protocol.KindMessage:
		return fmt.Errorf("%w: the target is not a content message", store.ErrInvalid), nil
	case t.deleted:
		return fmt.Errorf("%w: the target is deleted", store.ErrInvalid), nil
	}
	if e.Kind == protocol.KindEdit {
		if t.row != nil {
			t.row.Body = e.Body
			t.row.EditedAt = b.now
			return nil, nil
		}
		_, err := b.tx.ExecContext(b.ctx,
			"UPDATE messages SET body = ?, edited_at = ? WHERE conv_id = ? AND seq = ?",
			e.Body, b.now, e.Conv, int64(e.Target))
		return nil, classify(err)
	}

	// Delete: the body goes, and so do the bodies of the message's edits.
	t.deleted = true
	b.deleted = append(b.deleted, targetKey{e.Conv, e.Target})
	for _, r := range b.rows {
		if r == t.row {
			r.Body, r.Payload, r.Deleted = "", nil, true
		} else if r.Kind == protocol.KindEdit && r.Conv == e.Conv && r.Target == e.Target {
			r.Body, r.Payload = "", nil
		}
	}
	if t.row == nil {
		if _, err := b.tx.ExecContext(b.ctx,
			"UPDATE messages SET body = '', payload = NULL, deleted = 1 WHERE conv_id = ? AND seq = ?",
			e.Conv, int64(e.Target)); err != nil {
			return nil, classify(err)
		}
		if _, err := b.tx.ExecContext(b.ctx,
			"UPDATE messages SET body = '', payload = NULL WHERE conv_id = ? AND target = ? AND kind = '"+
				protocol.KindEdit+"'",
			e.Conv, int64(e.Target)); err != nil {
			return nil, classify(err)
		}
	}
	return nil, nil
}

// applyMember checks and applies a membership change recorded by m (whose
// Seq is the seq it gets if it succeeds); a join is refused beyond
// maxMembers members (0: no limit).
func (b *batch) applyMember(m *protocol.Message, maxMembers int) (fail, err error) {
	mc := m.Member
	if mc == nil || mc.User == "" {
		return fmt.Errorf("%w: membership event without a user", store.ErrInvalid), nil
	}
	k := memberKey{m.Conv, mc.User}
	isMember, err := b.isMember(m.Conv, mc.User)
	if err != nil {
		return nil, err
	}
	switch mc.Action {
	case protocol.MemberAdded, protocol.MemberJoined:
		if isMember {
			return fmt.Errorf("%w: the user is a member already", store.ErrExists), nil
		}
		deleted, err := anyDeleted(b.ctx, b.tx, mc.User)
		if err != nil {
			return nil, err
		}
		if deleted {
			return fmt.Errorf("%w: the user is deleted", store.ErrNotFound), nil
		}
		if mc.Role == "" {
			mc.Role = protocol.RoleMember
		}
		if !validRole(mc.Role) {
			return fmt.Errorf("%w: unknown role", store.ErrInvalid), nil
		}
		if fail, err := b.memberLimit(m.Conv, maxMembers); fail != nil || err != nil {
			return fail, err
		}
		// The member sees the event of its own joining and starts with
		// everything before it read and delivered.
		joined := int64(m.Seq - 1)
		if _, err := b.tx.ExecContext(b.ctx,
			`INSERT INTO members (conv_id, user_id, role, joined_seq, read_seq, delivered_seq)
			 VALUES (?, ?, ?, ?, ?, ?)`,
			m.Conv, mc.User, mc.Role, joined, joined, joined); err != nil {
			return nil, classify(err)
		}
		if err := addParticipant(b.ctx, b.tx, m.Conv, mc.User); err != nil {
			return nil, err
		}
		if err := dropPending(b.ctx, b.tx, m.Conv, mc.User); err != nil {
			return nil, err
		}
		b.members[k] = true
		b.roles[k] = mc.Role
		b.countChange(m.Conv, 1)
	case protocol.MemberRemoved, protocol.MemberLeft:
		if !isMember {
			return fmt.Errorf("%w: the user is not a member", store.ErrNotFound), nil
		}
		if _, err := b.tx.ExecContext(b.ctx,
			"DELETE FROM members WHERE conv_id = ? AND user_id = ?", m.Conv, mc.User); err != nil {
			return nil, classify(err)
		}
		if _, err := b.tx.ExecContext(b.ctx,
			"DELETE FROM positions WHERE conv_id = ? AND user_id = ?", m.Conv, mc.User); err != nil {
			return nil, classify(err)
		}
		b.members[k] = false
		b.roles[k] = ""
		b.countChange(m.Conv, -1)
	case protocol.MemberRole:
		if !isMember {
			return fmt.Errorf("%w: the user is not a member", store.ErrNotFound), nil
		}
		if !validRole(mc.Role) {
			return fmt.Errorf("%w: unknown role", store.ErrInvalid), nil
		}
		if _, err := b.tx.ExecContext(b.ctx,
			"UPDATE members SET role = ? WHERE conv_id = ? AND user_id = ?", mc.Role, m.Conv, mc.User); err != nil {
			return nil, classify(err)
		}
		b.roles[k] = mc.Role
	default:
		return fmt.Errorf("%w: unknown membership action", store.ErrInvalid), nil
	}
	return nil, nil
}

// applySystem applies a system event: with Member.Name, a rename.
func (b *batch) applySystem(e *store.Append) (fail, err error) {
	if e.Member == nil || e.Member.Name == "" {
		return nil, nil
	}
	_, err = b.tx.ExecContext(b.ctx, "UPDATE conversations SET name = ? WHERE id = ?", e.Member.Name, e.Conv)
	return nil, classify(err)
}

// authorize checks the role rules of store.Append.Authorize against the
// roles at this point of the batch.
func (b *batch) authorize(e *store.Append) (fail, err error) {
	if !e.Authorize {
		return nil, nil
	}
	forbidden := fmt.Errorf("%w: the sender's role does not allow this", store.ErrForbidden)
	actor, err := b.role(e.Conv, e.Sender)
	if err != nil {
		return nil, err
	}
	if e.Kind == protocol.KindSystem {
		if protocol.RoleRank(actor) < protocol.RoleRank(protocol.RoleAdmin) {
			return forbidden, nil
		}
		return nil, nil
	}
	if e.Member == nil {
		return nil, nil // applyMember refuses it
	}
	switch e.Member.Action {
	case protocol.MemberAdded, protocol.MemberJoined:
		if protocol.RoleRank(actor) < protocol.RoleRank(protocol.RoleAdmin) {
			return forbidden, nil
		}
	case protocol.MemberRemoved, protocol.MemberLeft:
		if e.Member.User == e.Sender {
			return nil, nil
		}
		target, err := b.role(e.Conv, e.Member.User)
		if err != nil {
			return nil, err
		}
		if protocol.RoleRank(actor) < protocol.RoleRank(protocol.RoleAdmin) || protocol.RoleRank(target) >= protocol.RoleRank(actor) {
			return forbidden, nil
		}
	case protocol.MemberRole:
		if actor != protocol.RoleOwner {
			return forbidden, nil
		}
	}
	return nil, nil
}

// role returns user's role in conv at this point of the batch ("" if not a
// member). Roles change inside a batch only through membership entries,
// which keep b.roles current.
func (b *batch) role(conv, user string) (string, error) {
	k := memberKey{conv, user}
	if r, ok := b.roles[k]; ok {
		return r, nil
	}
	var r string
	err := b.tx.QueryRowContext(b.ctx,
		"SELECT role FROM members WHERE conv_id = ? AND user_id = ?", conv, user).Scan(&r)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", classify(err)
	}
	b.roles[k] = r
	return r, nil
}

// validRole reports whether r is a known member role.
func validRole(r string) bool {
	return r == protocol.RoleOwner || r == protocol.RoleAdmin || r == protocol.RoleMember
}

// conv returns the batch's state of a conversation loaded by loadState.
func (b *batch) conv(id string) *convState {
	cs, ok := b.convs[id]
	if !ok { // not reached: loadState loads every entry's conversation
		cs = &convState{}
		b.convs[id] = cs
	}
	return cs
}

// isMember reports whether user is a member of conv at this point of the
// batch.
func (b *batch) isMember(conv, user string) (bool, error) {
	k := memberKey{conv, user}
	if ok, cached := b.members[k]; cached {
		return ok, nil
	}
	var one int
	err := b.tx.QueryRowContext(b.ctx,
		"SELECT 1 FROM members WHERE conv_id = ? AND user_id = ?", conv, user).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		b.members[k] = false
	case err != nil:
		return false, classify(err)
	default:
		b.members[k] = true
	}
	return b.members[k], nil
}

// erasing reports whether user's erasure has begun and not ended
// (erasure.go): such a user is still a member of the conversations not
// cleared yet, but sends nothing.
func (b *batch) erasing(user string) (bool, error) {
	if v, ok := b.erasers[user]; ok {
		return v, nil
	}
	var v bool
	err := b.tx.QueryRowContext(b.ctx,
		"SELECT EXISTS (SELECT 1 FROM erasure_pending WHERE user_id = ?)", user).Scan(&v)
	if err != nil {
		return false, classify(err)
	}
	b.erasers[user] = v
	return v, nil
}

// target returns the message at (conv, seq) at this point of the batch, or
// nil if there is none.
func (b *batch) target(conv string, seq uint64) (*target, error) {
	k := targetKey{conv, seq}
	if t, cached := b.targets[k]; cached {
		return t, nil
	}
	t := &target{}
	var deleted int64
	err := b.tx.QueryRowContext(b.ctx,
		"SELECT sender, kind, deleted FROM messages WHERE conv_id = ? AND seq = ?", conv, int64(seq)).
		Scan(&t.sender, &t.kind, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		t = nil
	case err != nil:
		return nil, classify(err)
	default:
		t.deleted = deleted != 0
	}
	b.targets[k] = t
	return t, nil
}

// memberLimit refuses a join to conv once it has maxMembers members at
// this point of the batch (0: no limit).
func (b *batch) memberLimit(conv string, maxMembers int) (fail, err error) {
	if maxMembers <= 0 {
		return nil, nil
	}
	n, ok := b.counts[conv]
	if !ok {
		if n, err = memberCount(b.ctx, b.tx, conv); err != nil {
			return nil, err
		}
		if b.counts == nil {
			b.counts = make(map[string]int)
		}
		b.counts[conv] = n
	}
	if n >= maxMembers {
		return fmt.Errorf("%w: the group has %d members, as many as allowed", store.ErrLimit, n), nil
	}
	return nil, nil
}

// countChange keeps a counted group's member count current.
func (b *batch) countChange(conv string, delta int) {
	if n, ok := b.counts[conv]; ok {
		b.counts[conv] = n + delta
	}
}
