package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Engine is what a database engine other than SQLite supplies to run this
// package's SQL (docs/adr/0012-postgres-shares-the-sql.md): the store's
// queries and their Go are the same, and the engine brings the
// placeholder syntax, the isolation of write transactions and which of
// their failures to retry whole.
type Engine struct {
	// Name prefixes the store's errors ("postgres").
	Name string
	// Bind rewrites a statement written with ? and ?NNN placeholders.
	Bind func(string) string
	// Args converts a statement's arguments (nil: as they are), e.g.
	// strings to bytes where the engine would parse a string for a column
	// of bytes.
	Args func([]any) []any
	// Write are the options of a write transaction: an isolation at which
	// the single-writer reasoning of this package holds (SERIALIZABLE).
	Write *sql.TxOptions
	// Read are the options of a read transaction, whose statements must
	// all see one snapshot (REPEATABLE READ, read only).
	Read *sql.TxOptions
	// Retry reports whether a write transaction that failed with err may
	// run again from its start (a serialization failure, a deadlock, a
	// unique violation a concurrent writer caused).
	Retry func(err error) bool
	// Retries bounds the runs of one write transaction after the first.
	Retries int
	// Retried is called on each retry (a metric), if not nil.
	Retried func()
}

// OnEngine returns a store that runs this package's SQL on db, a pool of
// the engine's connections whose schema the caller has migrated. The
// store does not close db. The maintenance operations that are SQLite's
// (Backup, Check, the WAL checkpoint) are not available on it.
func OnEngine(db *sql.DB, e Engine, log *slog.Logger) *DB {
	if log == nil {
		log = slog.Default()
	}
	w := pool{db: db, bind: e.Bind, args: e.Args, opts: e.Write}
	r := pool{db: db, bind: e.Bind, args: e.Args, opts: e.Read}
	return &DB{log: log, eng: &e, w: w, r: r}
}

// retry reports whether the write transaction that failed with err on its
// run-th run (from 0) runs again, after a short jittered pause.
func (db *DB) retry(ctx context.Context, run int, err error) bool {
	e := db.eng
	if e == nil || e.Retry == nil || run >= e.Retries || !e.Retry(err) {
		return false
	}
	if e.Retried != nil {
		e.Retried()
	}
	// Up to 1, 2, 4 ... 32 ms: enough for the conflicting transaction to
	// commit, short beside a send's latency.
	d := time.Duration(rand.Int64N(int64(time.Millisecond) << min(run, 5)))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// wrapRetries names the runs in an error that survived retries.
func wrapRetries(err error, runs int) error {
	if runs <= 1 {
		return err
	}
	return fmt.Errorf("after %d runs: %w", runs, err)
}
