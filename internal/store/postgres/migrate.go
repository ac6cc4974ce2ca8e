package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/parley-im/parley/internal/store/schema"
)

// migrations returns the embedded migrations in version order.
var migrations = sync.OnceValues(func() ([]schema.Migration, error) { return schema.Load(Migrations) })

// SchemaVersion is the schema version this binary writes (0 if its
// embedded migrations are malformed, which Open reports).
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrationLock is the key of the transaction-level advisory lock that
// serializes migrations across the nodes of a cluster ("parley" in ASCII).
const migrationLock = 0x7061726c6579

// migrate brings the schema to the newest version in one transaction,
// under migrationLock: a node that starts while another migrates waits
// for it and then finds nothing to do. A database at a newer version than
// this binary's is refused with ErrSchemaTooNew.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", classify(err))
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("migrate: lock: %w", classify(err))
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS parley_schema (
		id      INTEGER PRIMARY KEY CHECK (id = 1),
		version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: version table: %w", classify(err))
	}
	var current int
	err = tx.QueryRowContext(ctx, "SELECT version FROM parley_schema WHERE id = 1").Scan(&current)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("migrate: read schema version: %w", classify(err))
	}
	if current > len(ms) {
		return fmt.Errorf("%w: the database has schema version %d, this binary knows up to %d; use a newer parley",
			ErrSchemaTooNew, current, len(ms))
	}
	if current == len(ms) {
		return nil
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, classify(err))
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO parley_schema (id, version) VALUES (1, $1)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version`, len(ms)); err != nil {
		return fmt.Errorf("migrate: write schema version: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", classify(err))
	}
	db.log.Info("postgres: schema migrated", "from", current, "to", len(ms))
	return nil
}
