package postgres

import (
	"errors"

	"github.com/parley-im/parley/internal/store/sqlite"
)

// Errors of this package, wrapped with context. ErrBusy, ErrDiskFull and
// ErrCorrupt are those of the query code it shares with the SQLite
// backend, which classifies the server's errors (sqlite.Classify).
var (
	// ErrUnsafeDurability: the server does not make a commit durable
	// before it answers (synchronous_commit off, or fsync off).
	ErrUnsafeDurability = errors.New("postgres commits are not durable")
	// ErrSchemaTooNew: the database was migrated by a newer binary.
	ErrSchemaTooNew = errors.New("postgres schema is newer than this binary")
	// ErrNoBackup: Backup on PostgreSQL, whose backups are the server's.
	ErrNoBackup = errors.New("postgres: parley backup copies a SQLite file; back up PostgreSQL with pg_dump or base backups")
	// ErrBusy: a statement was cancelled, could not take a lock in time,
	// or kept conflicting with concurrent transactions.
	ErrBusy = sqlite.ErrEngineBusy
	// ErrDiskFull: the server is out of disk or memory for the statement.
	ErrDiskFull = sqlite.ErrEngineFull
	// ErrCorrupt: the server reports damaged data.
	ErrCorrupt = sqlite.ErrEngineCorrupt
)

// classify maps a driver error to a sentinel, keeping the driver error in
// the chain for logs (the server's message names tables and constraints;
// statements and arguments are never part of it).
func classify(err error) error { return sqlite.Classify(err) }
