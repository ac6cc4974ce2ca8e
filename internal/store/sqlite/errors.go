package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"

	"github.com/parley-im/parley/internal/store"
)

// Sentinel errors of this backend, in addition to the store sentinels.
var (
	// ErrUnsafeDurability: the database cannot be made durable (synchronous
	// below FULL, or not in WAL mode); Open refuses it unless Options.Unsafe.
	ErrUnsafeDurability = errors.New("sqlite durability below synchronous=FULL with WAL")
	// ErrCorrupt: the file is damaged or is not a SQLite database.
	ErrCorrupt = errors.New("sqlite database is corrupt")
	// ErrSchemaTooNew: the file was written by a newer Parley whose schema
	// this binary does not know.
	ErrSchemaTooNew = errors.New("sqlite schema is newer than this binary")
	// ErrBusy: a lock stayed held by another connection or process past the
	// busy timeout. Nothing was written; the operation may be retried.
	ErrBusy = errors.New("sqlite database is busy")
	// ErrDiskFull: the file system or the database is full. Nothing was
	// written; the operation may be retried once space is freed.
	ErrDiskFull = errors.New("sqlite database or disk is full")
)

// Classify is classify for the backends that run this package's SQL on
// another engine (OnEngine), for their own statements.
func Classify(err error) error { return classify(err) }

// classify maps a driver error to a sentinel, keeping the driver error in
// the chain for logs (its text names tables and columns, never SQL or user
// data). A unique or primary-key violation becomes store.ErrExists alone.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return classifyEngine(err)
	}
	switch se.Code {
	case sqlite3.ErrConstraint:
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return store.ErrExists
		}
		// Other constraints (NOT NULL, CHECK, foreign keys) mean a bug in
		// this package rather than a caller's conflict: keep the detail.
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	case sqlite3.ErrBusy, sqlite3.ErrLocked:
		return fmt.Errorf("%w: %w", ErrBusy, err)
	case sqlite3.ErrFull:
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}
