package postgres

import (
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-im/parley/internal/store/sqlite"
)

// maxRetries bounds the runs of one write transaction after the first.
const maxRetries = 50

// retriedConstraints are the unique constraints whose violation means a
// concurrent writer took the key between a read and an insert of the same
// transaction, which SERIALIZABLE reports so instead of as a
// serialization failure (PostgreSQL manual 13.2.3): a conversation's seq
// and a sender's client message id. The transaction runs again and reads
// the other's write.
var retriedConstraints = map[string]bool{
	"messages_conv_seq": true,
	"messages_dedupe":   true,
}

// engine is how the shared SQL runs on PostgreSQL (ADR 0012); retried,
// if not nil, is called on each retry.
func engine(retried func()) sqlite.Engine {
	return sqlite.Engine{
		Name:    "postgres",
		Bind:    Rebind,
		Args:    bytesForStrings,
		Write:   &sql.TxOptions{Isolation: sql.LevelSerializable},
		Read:    &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		Retry:   retryable,
		Retries: maxRetries,
		Retried: retried,
	}
}

// retryable reports whether a write transaction that failed with err runs
// again: a serialization failure, a deadlock, or a unique violation of
// retriedConstraints.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	case "23505": // unique_violation
		return retriedConstraints[pe.ConstraintName]
	}
	return false
}

// bytesForStrings passes strings as bytes. pgx sends a string in text
// format whatever the parameter's type, and the server parses text for a
// BYTEA parameter as bytea input, where a backslash starts an escape and
// a NUL is refused; bytes go to a BYTEA parameter as they are, and to a
// text one as the text they hold. Free text is BYTEA in this schema
// (ADR 0012), keys are text.
func bytesForStrings(args []any) []any {
	var out []any
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			continue
		}
		if out == nil {
			out = make([]any, len(args))
			copy(out, args)
		}
		out[i] = []byte(s)
	}
	if out == nil {
		return args
	}
	return out
}
