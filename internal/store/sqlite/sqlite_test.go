package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, for raw access to test files

	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
	"github.com/parley-im/parley/internal/store/storetest"
	"github.com/parley-im/parley/protocol"
)

// quiet is the options of test stores: warnings are discarded.
var quiet = sqlite.Options{Logger: slog.New(slog.DiscardHandler)}

// openDB opens a store in a new temporary directory and closes it with the
// test.
func openDB(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "p.db")
	}
	db, err := sqlite.Open(path, quiet)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openDB(t, "") })
}

func TestDurabilityBelowFullIsRefused(t *testing.T) {
	t.Parallel()
	for _, pragma := range []string{"PRAGMA synchronous = NORMAL", "PRAGMA synchronous = OFF", "PRAGMA journal_mode = DELETE"} {
		t.Run(pragma, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.db")
			db, err := sqlite.OpenWithPragmas(path, quiet, pragma)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded with lowered durability")
			}
			if !errors.Is(err, sqlite.ErrUnsafeDurability) {
				t.Fatalf("error = %v, want ErrUnsafeDurability", err)
			}
			t.Logf("refused: %v", err)

			// With Unsafe the store opens and says so loudly.
			var log bytes.Buffer
			opts := sqlite.Options{Unsafe: true, Logger: slog.New(slog.NewTextHandler(&log, nil))}
			db, err = sqlite.OpenWithPragmas(path, opts, pragma)
			if err != nil {
				t.Fatalf("Open with Unsafe: %v", err)
			}
			defer db.Close()
			if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "UNSAFE") {
				t.Fatalf("no warning logged with Unsafe: %q", log.String())
			}
			if err := db.CreateUser(t.Context(), store.User{ID: "alice"}); err != nil {
				t.Fatalf("unsafe store does not work: %v", err)
			}
		})
	}
}

func TestDurableSettingsOnEveryConnection(t *testing.T) {
	t.Parallel()
	var log bytes.Buffer
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := sqlite.Open(path, sqlite.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if log.Len() != 0 {
		t.Fatalf("a safe Open logged: %q", log.String())
	}
	// The journal mode is persistent: a foreign connection sees WAL.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q (%v), want wal", mode, err)
	}
	// Many concurrent reads open several reader connections, each verified.
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			_, err := db.Range(t.Context(), "c", 0, 0, 10, true)
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// seededFile returns the path of a closed database file with a few
// thousand messages, so that it spans many pages.
func seededFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.db")
	db, err := sqlite.Open(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.UnixMilli(1_767_225_600_000)
	if _, err := db.EnsureDirect(ctx, "d1", "alice", "bob", now); err != nil {
		t.Fatal(err)
	}
	for b := range 10 {
		var entries []store.Append
		for i := range 256 {
			entries = append(entries, store.Append{
				Conv: "d1", Sender: "alice", ClientMsgID: fmt.Sprintf("c%d-%d", b, i),
				Kind: protocol.KindMessage, Body: strings.Repeat("history ", 20),
			})
		}
		if _, err := db.Append(ctx, entries, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		if fi, _ := os.Stat(path + "-wal"); fi.Size() > 0 {
			t.Fatal("WAL not checkpointed at Close")
		}
	}
	return path
}

func TestDamagedFileIsRefused(t *testing.T) {
	t.Parallel()
	src := seededFile(t)
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(orig) < 64<<10 {
		t.Fatalf("seed file is only %d bytes", len(orig))
	}
	damage := map[string]func([]byte) []byte{
		"truncated to half": func(b []byte) []byte { return b[:len(b)/2] },
		"truncated by one page": func(b []byte) []byte {
			return b[:len(b)-4096]
		},
		"magic header flipped": func(b []byte) []byte {
			for i := range 16 {
				b[i] ^= 0xff
			}
			return b
		},
		"page size garbage": func(b []byte) []byte {
			b[16], b[17] = 0x12, 0x34
			return b
		},
		"b-tree page header flipped": func(b []byte) []byte {
			// Page 2 onwards: flip the page-type byte of every page.
			for off := 4096; off < len(b); off += 4096 {
				b[off] ^= 0xff
			}
			return b
		},
		"not a database": func(b []byte) []byte {
			return bytes.Repeat([]byte("not sqlite "), 10000)
		},
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "damaged.db")
			if err := os.WriteFile(path, fn(bytes.Clone(orig)), 0o600); err != nil {
				t.Fatal(err)
			}
			db, err := sqlite.Open(path, quiet)
			if err == nil {
				db.Close()
				t.Fatal("Open accepted a damaged file")
			}
			if !errors.Is(err, sqlite.ErrCorrupt) {
				t.Fatalf("error = %v, want ErrCorrupt", err)
			}
			t.Logf("refused: %v", err)
		})
	}
	// The intact file still opens and passes the full check.
	db := openDB(t, src)
	if err := db.Check(t.Context()); err != nil {
		t.Fatalf("Check of an intact file: %v", err)
	}
	msgs, err := db.Range(t.Context(), "d1", 0, 0, 10_000, true)
	if err != nil || len(msgs) != 2560 {
		t.Fatalf("intact file has %d messages (%v), want 2560", len(msgs), err)
	}
}

func TestSchemaTooNewIsRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := sqlite.Open(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	setVersion := func(v int) {
		raw, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
			t.Fatal(err)
		}
	}
	setVersion(sqlite.SchemaVersion() + 1)
	if db, err := sqlite.Open(path, quiet); !errors.Is(err, sqlite.ErrSchemaTooNew) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open of a newer schema: error = %v, want ErrSchemaTooNew", err)
	}
	setVersion(sqlite.SchemaVersion())
	openDB(t, path)
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	ctx := t.Context()
	now := time.UnixMilli(1_767_225_600_000)
	db, err := sqlite.Open(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(ctx, store.User{ID: "alice", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	c, err := db.EnsureDirect(ctx, "d1", "alice", "bob", now)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.Append(ctx, []store.Append{{Conv: c.ID, Sender: "alice", ClientMsgID: "m1", Kind: protocol.KindMessage, Body: "before restart"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openDB(t, path)
	if v := sqlite.SchemaVersion(); v < 1 {
		t.Fatalf("SchemaVersion = %d", v)
	}
	if _, err := db.User(ctx, "alice"); err != nil {
		t.Fatalf("user lost over a restart: %v", err)
	}
	res, err := db.Append(ctx, []store.Append{
		{Conv: c.ID, Sender: "alice", ClientMsgID: "m1", Kind: protocol.KindMessage, Body: "retry"},
		{Conv: c.ID, Sender: "bob", ClientMsgID: "m2", Kind: protocol.KindMessage, Body: "after restart"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Duplicate || res[0].Message.ID != first[0].Message.ID || res[1].Message.Seq != 2 {
		t.Fatalf("after restart: %+v", res)
	}
}

func TestBusyIsReported(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	db, err := sqlite.Open(path, sqlite.Options{Logger: quiet.Logger, BusyTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Another process (here: another connection) holds the write lock.
	raw, err := sql.Open("sqlite3", path+"?_busy_timeout=50")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn, err := raw.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	err = db.CreateUser(t.Context(), store.User{ID: "alice"})
	if !errors.Is(err, sqlite.ErrBusy) {
		t.Fatalf("write while locked: error = %v, want ErrBusy", err)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(t.Context(), store.User{ID: "alice"}); err != nil {
		t.Fatalf("write after the lock is released: %v", err)
	}
	if _, err := db.User(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestForeignCursorIsInvalid(t *testing.T) {
	t.Parallel()
	db := openDB(t, "")
	for _, cursor := range []string{"garbage!", "MTpub3Q6YW46aWQ", "' OR 1=1 --"} {
		_, _, _, err := db.ListConversations(t.Context(), "alice", cursor, 10)
		if !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("cursor %q: error = %v, want ErrInvalid", cursor, err)
		}
	}
}
