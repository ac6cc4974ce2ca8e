package sqlite

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parley-im/parley/internal/store"
)

// Errors of a store on an engine (OnEngine), in addition to the store
// sentinels.
var (
	// ErrEngineBusy: a statement was cancelled, could not take a lock in
	// time, or kept conflicting with concurrent transactions.
	ErrEngineBusy = errors.New("database is busy")
	// ErrEngineFull: the server is out of disk or memory for the statement.
	ErrEngineFull = errors.New("database is out of space")
	// ErrEngineCorrupt: the server reports damaged data.
	ErrEngineCorrupt = errors.New("database data is corrupt")
)

// classifyEngine maps an error of PostgreSQL's driver (pgx) to a
// sentinel as classify does SQLite's, keeping the driver error in the
// chain (the server's message names tables and constraints, never
// statements or arguments): an engine's Retry reads it there.
func classifyEngine(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == "23505": // unique_violation
		return fmt.Errorf("%w: %w", store.ErrExists, err)
	case pe.Code[:2] == "23": // other integrity constraints: a bug here, not a caller's conflict
		return fmt.Errorf("%w: %w", store.ErrInvalid, err)
	case pe.Code == "53100" || pe.Code == "53200": // disk_full, out_of_memory
		return fmt.Errorf("%w: %w", ErrEngineFull, err)
	case pe.Code == "55P03" || pe.Code == "57014" || pe.Code == "40001" || pe.Code == "40P01":
		// lock_not_available, query_canceled, serialization_failure,
		// deadlock_detected (the last two retried first)
		return fmt.Errorf("%w: %w", ErrEngineBusy, err)
	case pe.Code == "XX001" || pe.Code == "XX002": // data_corrupted, index_corrupted
		return fmt.Errorf("%w: %w", ErrEngineCorrupt, err)
	}
	return err
}
