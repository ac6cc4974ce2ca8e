package postgres

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-im/parley/internal/store"
)

// Errors of this package, wrapped with context.
var (
	// ErrUnsafeDurability: the server does not make a commit durable
	// before it answers (synchronous_commit off, or fsync off).
	ErrUnsafeDurability = errors.New("postgres commits are not durable")
	// ErrSchemaTooNew: the database was migrated by a newer binary.
	ErrSchemaTooNew = errors.New("postgres schema is newer than this binary")
	// ErrBusy: a statement was cancelled or could not take a lock in time.
	ErrBusy = errors.New("postgres is busy")
	// ErrDiskFull: the server is out of disk or memory for the statement.
	ErrDiskFull = errors.New("postgres is out of space")
	// ErrCorrupt: the server reports damaged data.
	ErrCorrupt = errors.New("postgres data is corrupt")
	// ErrNoBackup: Backup on PostgreSQL, whose backups are the server's.
	ErrNoBackup = errors.New("postgres: parley backup copies a SQLite file; back up PostgreSQL with pg_dump or base backups")
)

// classify maps a driver error to a sentinel, keeping the driver error in
// the chain for logs (the server's message names tables and constraints;
// statements and arguments are never part of it). A unique violation is
// store.ErrExists alone, as the SQLite backend reports it.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == "23505": // unique_violation
		return store.ErrExists
	case pe.Code[:2] == "23": // other integrity constraints: a bug here, not a caller's conflict
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	case pe.Code == "53100" || pe.Code == "53200": // disk_full, out_of_memory
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	case pe.Code == "55P03" || pe.Code == "57014": // lock_not_available, query_canceled
		return fmt.Errorf("%w: %w", ErrBusy, err)
	case pe.Code == "XX001" || pe.Code == "XX002": // data_corrupted, index_corrupted
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}
