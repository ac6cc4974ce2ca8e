package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// quiet is a logger for the Opens that warn about the test server's
// fsync=off (pgtest trades durability for speed).
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openTest(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn, Options{Unsafe: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func schemaVersion(t *testing.T, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v int
	if err := conn.QueryRow(t.Context(), "SELECT version FROM parley_schema WHERE id = 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOpenMigratesOnceWhenNodesStartTogether: several nodes opening an
// empty database at once all start, and the schema is applied once, to
// the newest version (without the advisory lock, concurrent CREATE TABLEs
// fail).
func TestOpenMigratesOnceWhenNodesStartTogether(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			db, err := Open(t.Context(), dsn, Options{Unsafe: true, Logger: quiet, MaxConns: 2})
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	if v := schemaVersion(t, dsn); v != SchemaVersion() || v < 11 {
		t.Fatalf("schema version %d, want %d", v, SchemaVersion())
	}
	// Open again: nothing to do, nothing changes.
	openTest(t, dsn)
	if v := schemaVersion(t, dsn); v != SchemaVersion() {
		t.Fatalf("schema version %d after a second open", v)
	}
}

// TestOpenRefusesNewerSchema: a database a newer binary migrated is
// refused, and left as it is.
func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	db := openTest(t, dsn)
	if _, err := db.db.ExecContext(t.Context(), "UPDATE parley_schema SET version = version + 1"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn, Options{Unsafe: true, Logger: quiet})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	if v := schemaVersion(t, dsn); v != SchemaVersion()+1 {
		t.Fatalf("the refused database's version changed to %d", v)
	}
}

// TestOpenChecksDurability: synchronous_commit off is refused, then
// fsync off (the test server's), each named; Unsafe opens with a warning
// that names the reason.
func TestOpenChecksDurability(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var name string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), fmt.Sprintf("ALTER DATABASE %s SET synchronous_commit = off", pgx.Identifier{name}.Sanitize())); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), dsn, Options{Logger: quiet})
	if !errors.Is(err, ErrUnsafeDurability) || !strings.Contains(err.Error(), "synchronous_commit") {
		t.Fatalf("Open with synchronous_commit off: %v", err)
	}
	if _, err := conn.Exec(t.Context(), fmt.Sprintf("ALTER DATABASE %s RESET synchronous_commit", pgx.Identifier{name}.Sanitize())); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), dsn, Options{Logger: quiet})
	if !errors.Is(err, ErrUnsafeDurability) || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("Open on a server with fsync off: %v", err)
	}
	var logged strings.Builder
	db, err := Open(t.Context(), dsn, Options{Unsafe: true, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if !strings.Contains(logged.String(), "fsync is off") {
		t.Fatalf("Unsafe open logged %q, want the reason", logged.String())
	}
}

// TestOpenErrorsHoldNoPassword: a connection string that does not parse,
// or a server that refuses the login, gives an error without the password.
func TestOpenErrorsHoldNoPassword(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{
		"postgres://parley:s3cr3t-pw@127.0.0.1:notaport/parley",
		fmt.Sprintf("postgres://nosuchuser:s3cr3t-pw@127.0.0.1:%d/parley?connect_timeout=5", pg.Port()),
	} {
		_, err := Open(t.Context(), dsn, Options{Logger: quiet})
		if err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Open(%q) error = %v; want one without the password", strings.Replace(dsn, "s3cr3t-pw", "…", 1), err)
		}
	}
}
