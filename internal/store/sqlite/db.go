package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// Interface guard.
var (
	_ store.Store       = (*DB)(nil)
	_ store.Maintenance = (*DB)(nil)
)

// defaultBusyTimeout is used when Options.BusyTimeout is zero.
const defaultBusyTimeout = 5 * time.Second

// Options configure Open. The zero value is the safe production setting.
type Options struct {
	// Unsafe lets Open proceed when the database cannot be made durable
	// (synchronous below FULL, or a journal mode other than WAL, e.g. on a
	// file system without shared memory). Open then logs a warning instead
	// of failing with ErrUnsafeDurability. Acknowledged messages may be lost
	// on a crash in that mode.
	Unsafe bool
	// Logger receives the package's warnings; nil means slog.Default().
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for a lock held by another
	// process before it fails with ErrBusy; zero means 5s.
	BusyTimeout time.Duration
}

// DB is a Parley store in one SQLite file. It is safe for concurrent use; see
// the package documentation for its connection model.
type DB struct {
	path string
	log  *slog.Logger
	wdb  *sql.DB // the writer: exactly one connection
	rdb  *sql.DB // the readers
	w, r pool    // the same, for statements
	ckpt *checkpointer
	eng  *Engine // nil: SQLite (OnEngine)

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the database file at path, verifies that
// it is durable (WAL, synchronous=FULL) and intact (PRAGMA quick_check), and
// migrates its schema to the version this binary knows.
//
// Errors: ErrUnsafeDurability when durability cannot be guaranteed and
// opts.Unsafe is false; ErrCorrupt for a damaged file or one that is not a
// database; ErrSchemaTooNew for a file written by a newer version.
func Open(path string, opts Options) (*DB, error) {
	return open(path, opts, nil)
}

// open is Open with extra per-connection pragmas executed after Parley's own
// settings and before their verification; tests use it to simulate a driver
// or build that lowers durability.
func open(path string, opts Options, extraPragmas []string) (*DB, error) {
	if path == "" || path == ":memory:" {
		// Each connection of an in-memory database is a database of its
		// own: the writer and the readers would not share data.
		return nil, errors.New("sqlite: open: need the path of a file (in-memory databases are not supported)")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = defaultBusyTimeout
	}
	db := &DB{path: path, log: log}
	db.wdb = sql.OpenDB(newConnector(path, connConfig{
		writer:      true,
		busyTimeout: busy,
		unsafe:      opts.Unsafe,
		extra:       extraPragmas,
	}))
	db.wdb.SetMaxOpenConns(1)
	db.wdb.SetMaxIdleConns(1)
	db.wdb.SetConnMaxLifetime(0)
	db.wdb.SetConnMaxIdleTime(0)
	db.w = pool{db: db.wdb, bind: asWritten}

	if err := db.init(opts.Unsafe); err != nil {
		_ = db.wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	db.rdb = sql.OpenDB(newConnector(path, connConfig{
		busyTimeout: busy,
		unsafe:      opts.Unsafe,
		extra:       extraPragmas,
	}))
	readers := max(4, 2*runtime.GOMAXPROCS(0))
	db.rdb.SetMaxOpenConns(readers)
	db.rdb.SetMaxIdleConns(readers)
	db.r = pool{db: db.rdb, bind: asWritten}
	if err := db.rdb.PingContext(context.Background()); err != nil {
		_ = db.rdb.Close()
		_ = db.wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: readers: %w", path, classify(err))
	}
	// The checkpointer's connection syncs what it copies as the writer's
	// commits do (it is opened with the writer's settings).
	cdb := sql.OpenDB(newConnector(path, connConfig{
		writer:      true,
		busyTimeout: busy,
		unsafe:      opts.Unsafe,
		extra:       extraPragmas,
	}))
	cdb.SetMaxOpenConns(1)
	cdb.SetMaxIdleConns(1)
	cdb.SetConnMaxLifetime(0)
	cdb.SetConnMaxIdleTime(0)
	if err := cdb.PingContext(context.Background()); err != nil {
		_ = cdb.Close()
		_ = db.rdb.Close()
		_ = db.wdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: checkpointer: %w", path, classify(err))
	}
	db.ckpt = newCheckpointer(cdb, path+"-wal", log.Warn)
	return db, nil
}

// init connects the writer and runs the start-up checks and migrations.
func (db *DB) init(unsafe bool) error {
	ctx := context.Background()
	if err := db.wdb.PingContext(ctx); err != nil {
		return classify(err)
	}
	if err := db.verifyDurability(ctx, unsafe); err != nil {
		return err
	}
	if err := quickCheck(ctx, db.wdb); err != nil {
		return err
	}
	return db.migrate(ctx)
}

// Close releases the connections. It is safe to call more than once; later
// calls return the first result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		// The checkpointer and the readers first: the writer, closing
		// last, checkpoints the WAL.
		if db.eng != nil {
			return // the engine's pool is its owner's
		}
		if err := errors.Join(db.ckpt.close(), db.rdb.Close(), db.wdb.Close()); err != nil {
			db.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	})
	return db.closeErr
}

// update runs fn in a write transaction (BEGIN IMMEDIATE on the writer) and
// commits it; it rolls back if fn fails. Errors of the transaction's own
// statements are classified; fn's errors are returned as they are.
//
// On an engine (OnEngine), a run that fails in a way the engine retries
// runs again from the start, fn included: fn must not keep what it
// gathered in one run for the next.
func (db *DB) update(ctx context.Context, fn func(tx *Tx) error) error {
	for run := 0; ; run++ {
		err := db.updateOnce(ctx, fn)
		if err == nil {
			return nil
		}
		if !db.retry(ctx, run, err) {
			return wrapRetries(err, run+1)
		}
	}
}

// updateOnce is one run of update.
func (db *DB) updateOnce(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.w.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", classify(err))
	}
	if err := fn(tx); err != nil {
		_ = tx.tx.Rollback()
		return err
	}
	if err := tx.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", classify(err))
	}
	return nil
}

// view runs fn in a read transaction on a reader connection: every statement
// of fn sees the same snapshot.
func (db *DB) view(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.r.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", classify(err))
	}
	defer func() { _ = tx.tx.Rollback() }()
	return fn(tx)
}
