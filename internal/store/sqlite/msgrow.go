package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/parley-im/parley/protocol"
)

// msgCols are the stored columns of a message, in the order of msgArgs and
// scanMessage.
const msgCols = "conv_id, seq, id, sender, client_msg_id, kind, content_type, body, payload, " +
	"encrypted, target, member, created_at, edited_at, deleted"

// msgColCount is the number of msgCols.
const msgColCount = 15

// newMessageID returns a server-generated message id: a UUIDv7, unique and
// ordered by creation time.
func newMessageID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return id.String(), nil
}

// insertMessages stores rows with multi-row INSERTs (see chunkSizes), each
// with its content_count from counts (nil: all 0, for rows that follow no
// content message).
func insertMessages(ctx context.Context, tx *Tx, rows []*protocol.Message, counts []int64) error {
	args := make([]any, 0, min(len(rows), maxChunk)*(msgColCount+1))
	for _, size := range chunkSizes(len(rows)) {
		args = args[:0]
		for i, m := range rows[:size] {
			var err error
			if args, err = appendMsgArgs(args, m); err != nil {
				return err
			}
			var n int64
			if counts != nil {
				n = counts[i]
			}
			args = append(args, n)
		}
		rows = rows[size:]
		if counts != nil {
			counts = counts[size:]
		}
		q := "INSERT INTO messages (" + msgCols + ", content_count) VALUES " + valuesList(size, msgColCount+1)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert messages: %w", classify(err))
		}
	}
	return nil
}

// appendMsgArgs appends the msgCols values of m to args.
func appendMsgArgs(args []any, m *protocol.Message) ([]any, error) {
	var payload, member any
	if len(m.Payload) > 0 {
		payload = []byte(m.Payload)
	}
	// The member column holds the entry's detail as JSON: a MemberChange,
	// or a SocialEvent for the kinds of the social graph and notices
	// (scanMessage decodes it by kind; an entry never has both).
	var detail any
	switch {
	case m.Member != nil:
		detail = m.Member
	case m.Social != nil:
		detail = m.Social
	}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return nil, fmt.Errorf("encode entry detail: %w", err)
		}
		member = string(b)
	}
	return append(args,
		m.Conv, int64(m.Seq), m.ID, m.From, m.ClientMsgID, m.Kind, m.ContentType, m.Body, payload,
		boolInt(m.Encrypted), int64(m.Target), member, m.Time, m.EditedAt, boolInt(m.Deleted),
	), nil
}

// scanMessage reads the msgCols of one row.
func scanMessage(r rowScanner) (protocol.Message, error) {
	var m protocol.Message
	var seq, target, encrypted, deleted int64
	var payload []byte
	var member sql.NullString
	if err := r.Scan(&m.Conv, &seq, &m.ID, &m.From, &m.ClientMsgID, &m.Kind, &m.ContentType, &m.Body,
		&payload, &encrypted, &target, &member, &m.Time, &m.EditedAt, &deleted); err != nil {
		return protocol.Message{}, classify(err)
	}
	m.Seq = uint64(seq)
	m.Target = uint64(target)
	m.Encrypted = encrypted != 0
	m.Deleted = deleted != 0
	if len(payload) > 0 {
		m.Payload = payload
	}
	if member.Valid {
		if err := decodeDetail(&m, member.String); err != nil {
			return protocol.Message{}, err
		}
	}
	return m, nil
}

// decodeDetail sets m's Member or Social from the member column's JSON,
// by m's kind.
func decodeDetail(m *protocol.Message, detail string) error {
	switch m.Kind {
	case protocol.KindMember, protocol.KindSystem:
		var mc protocol.MemberChange
		if err := json.Unmarshal([]byte(detail), &mc); err != nil {
			return fmt.Errorf("decode member change: %w", err)
		}
		m.Member = &mc
	default:
		var se protocol.SocialEvent
		if err := json.Unmarshal([]byte(detail), &se); err != nil {
			return fmt.Errorf("decode social event: %w", err)
		}
		m.Social = &se
	}
	return nil
}

// queryMessages runs a query selecting msgCols and collects the rows.
func queryMessages(ctx context.Context, q querier, query string, args ...any) ([]protocol.Message, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var msgs []protocol.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return msgs, nil
}

// querier is a *sql.DB or *Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// msgSelect is the SELECT of msgCols from messages, for a WHERE to follow.
const msgSelect = "SELECT " + msgCols + " FROM messages "

// qualified returns msgCols prefixed with a table alias.
func qualified(alias string) string {
	cols := strings.Split(msgCols, ", ")
	for i, c := range cols {
		cols[i] = alias + "." + c
	}
	return strings.Join(cols, ", ")
}
