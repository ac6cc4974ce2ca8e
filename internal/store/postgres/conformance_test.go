package postgres

import (
	"context"
	"log/slog"
	"testing"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/storetest"
)

// TestConformance runs the storage conformance suite, the one the SQLite
// backend passes, on a database of its own per test.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), pg.NewDatabase(t), Options{Unsafe: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
