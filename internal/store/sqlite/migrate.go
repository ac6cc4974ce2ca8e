package sqlite

import (
	"context"
	"embed"
	"fmt"
	"strconv"
	"sync"

	"github.com/parley-im/parley/internal/store/schema"
)

// migrationFiles holds the schema migrations, named NNNN_description.sql
// and numbered from 1 without gaps. Migration N brings the schema from
// version N-1 to N; PRAGMA user_version holds the version of a file.
// A released migration is never edited: changes go into a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations returns the embedded migrations in version order.
var migrations = sync.OnceValues(func() ([]schema.Migration, error) { return schema.Load(migrationFiles) })

// SchemaVersion is the schema version this binary writes (0 if its
// embedded migrations are malformed, which Open reports).
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the schema to the newest version in one write transaction:
// either every pending migration applies or none does. A file whose version
// is newer than this binary's is refused with ErrSchemaTooNew.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	err = db.update(ctx, func(tx *Tx) error {
		var current int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", classify(err))
		}
		if current > len(ms) {
			return fmt.Errorf("%w: file has schema version %d, this binary knows up to %d; use a newer parley",
				ErrSchemaTooNew, current, len(ms))
		}
		if current == len(ms) {
			return nil
		}
		for _, m := range ms[current:] {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", m.Name, classify(err))
			}
		}
		// PRAGMA takes no bound parameters; the version is an integer.
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(ms))); err != nil {
			return fmt.Errorf("write schema version: %w", classify(err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
