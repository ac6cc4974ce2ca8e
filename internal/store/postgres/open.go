package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
)

// Interface guard.
var (
	_ store.Store       = (*DB)(nil)
	_ store.Maintenance = (*DB)(nil)
)

// Options configure Open. The zero value is the safe production setting.
type Options struct {
	// Unsafe lets Open proceed when the server does not make commits
	// durable (synchronous_commit off, fsync off); it logs a warning
	// instead of failing with ErrUnsafeDurability. Acknowledged messages
	// may then be lost in a crash.
	Unsafe bool
	// Logger receives the package's warnings; nil means slog.Default().
	Logger *slog.Logger
	// MaxConns bounds the pool's connections; zero means 4 per CPU, at
	// least 8.
	MaxConns int
	// Retried, if not nil, is called each time a write transaction runs
	// again after it conflicted with another (a metric).
	Retried func()
}

// DB is a Parley store on a PostgreSQL server: store.Store through the
// query code it shares with the SQLite backend (the embedded store, on
// this package's engine), and store.Maintenance. It is safe for
// concurrent use.
type DB struct {
	*sqlite.DB
	db  *sql.DB
	log *slog.Logger

	closeOnce sync.Once
	closeErr  error
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string), checks that the server makes commits durable, and brings the
// schema to the version this binary knows (see the package documentation).
//
// Errors: ErrUnsafeDurability unless opts.Unsafe; ErrSchemaTooNew for a
// database migrated by a newer binary. An error never holds dsn, which
// may hold a password.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("postgres: open: the connection string (store.postgres_url) does not parse")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	conns := opts.MaxConns
	if conns <= 0 {
		conns = max(8, 4*runtime.GOMAXPROCS(0))
	}
	db := &DB{db: stdlib.OpenDB(*cfg), log: log}
	db.db.SetMaxOpenConns(conns)
	db.db.SetMaxIdleConns(conns)
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	if err := db.init(ctx, opts.Unsafe); err != nil {
		_ = db.db.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	db.DB = sqlite.OnEngine(db.db, engine(opts.Retried), log)
	return db, nil
}

// init runs the start-up checks and the migrations.
func (db *DB) init(ctx context.Context, unsafe bool) error {
	if err := db.db.PingContext(ctx); err != nil {
		return classify(err)
	}
	if err := db.verifyDurability(ctx, unsafe); err != nil {
		return err
	}
	return db.migrate(ctx)
}

// verifyDurability refuses (or, unsafe, warns about) a server whose
// commits may be lost: synchronous_commit off answers before the WAL is
// flushed; fsync off never flushes it.
func (db *DB) verifyDurability(ctx context.Context, unsafe bool) error {
	var syncCommit, fsync string
	if err := db.db.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&syncCommit); err != nil {
		return fmt.Errorf("read synchronous_commit: %w", classify(err))
	}
	if err := db.db.QueryRowContext(ctx, "SHOW fsync").Scan(&fsync); err != nil {
		return fmt.Errorf("read fsync: %w", classify(err))
	}
	var problem string
	switch {
	case syncCommit == "off":
		problem = "synchronous_commit is off (set it to on)"
	case fsync != "on":
		problem = "fsync is off (set it to on)"
	default:
		return nil
	}
	if !unsafe {
		return fmt.Errorf("%w: %s", ErrUnsafeDurability, problem)
	}
	db.log.Warn("postgres: acknowledged messages may be lost in a crash", "reason", problem)
	return nil
}

// Check checks that the server answers and holds the schema this binary
// knows. The data's own integrity is the server's (data checksums,
// amcheck), not a scan Parley runs.
func (db *DB) Check(ctx context.Context) error {
	var v int
	if err := db.db.QueryRowContext(ctx, "SELECT version FROM parley_schema WHERE id = 1").Scan(&v); err != nil {
		return fmt.Errorf("postgres: check: %w", classify(err))
	}
	if v != SchemaVersion() {
		return fmt.Errorf("postgres: check: schema version %d, this binary knows %d", v, SchemaVersion())
	}
	return nil
}

// Backup is refused: a PostgreSQL store is backed up with the server's
// tools (pg_dump, base backups with WAL archiving), which see every node's
// writes; parley backup copies a SQLite file.
func (db *DB) Backup(context.Context, string) error {
	return ErrNoBackup
}

// Close releases the pool. It is safe to call more than once; later
// calls return the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if err := db.db.Close(); err != nil {
			db.closeErr = fmt.Errorf("postgres: close: %w", err)
		}
	})
	return db.closeErr
}
