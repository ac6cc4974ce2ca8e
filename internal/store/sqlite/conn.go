package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
)

// stmtCacheSize is the number of prepared statements each connection keeps
// (the driver's LRU cache keyed by SQL text). Multi-row statements come in
// power-of-two row counts (see chunkSizes), so the set of texts is small.
const stmtCacheSize = 128

// connConfig describes the connections of one pool.
type connConfig struct {
	writer      bool
	busyTimeout time.Duration
	unsafe      bool
	extra       []string // pragmas run before verification (tests only)
}

// connector opens connections with Parley's settings and verifies each one:
// a connection that is not durable is refused unless the store is unsafe.
type connector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newConnector(path string, cfg connConfig) *connector {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL") // the driver lowers it to NORMAL with WAL unless set
	q.Set("_busy_timeout", fmt.Sprint(cfg.busyTimeout.Milliseconds()))
	q.Set("_foreign_keys", "on")
	q.Set("_stmt_cache_size", fmt.Sprint(stmtCacheSize))
	if cfg.writer {
		q.Set("_txlock", "immediate")
		q.Set("_cache_size", "-16384") // 16 MiB of page cache for the indexes
	} else {
		q.Set("_txlock", "deferred")
		q.Set("_query_only", "on")
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	c := &connector{dsn: dsn}
	var pragmas []string
	if cfg.writer {
		// The WAL is checkpointed by its own connection in the background
		// (checkpoint.go), not by the commit that crosses a size: a
		// checkpoint copies thousands of pages and syncs the database
		// file, and every send queued behind that commit would wait for
		// it. The writer still checkpoints by itself past 16,000 pages
		// (64 MiB), should the background fall behind. The WAL file is
		// cut back to 64 MiB after a checkpoint.
		pragmas = append(pragmas, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", writerCheckpointPages),
			"PRAGMA journal_size_limit = 67108864")
	}
	// Statement journals and sorts stay in memory: no temporary files per
	// multi-row statement (seen with strace in the server under load).
	pragmas = append(pragmas, "PRAGMA temp_store = MEMORY")
	pragmas = append(pragmas, cfg.extra...)
	c.drv = &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
		for _, p := range pragmas {
			if _, err := conn.Exec(p, nil); err != nil {
				return err
			}
		}
		if cfg.unsafe {
			return nil
		}
		level, journal, err := durability(conn)
		if err != nil {
			return err
		}
		return checkDurability(level, journal)
	}}
	return c
}

// Connect implements driver.Connector.
func (c *connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

// Driver implements driver.Connector.
func (c *connector) Driver() driver.Driver { return c.drv }

// durability reads the connection's synchronous level and journal mode.
func durability(conn *sqlite3.SQLiteConn) (level int64, journal string, err error) {
	v, err := pragmaValue(conn, "PRAGMA synchronous")
	if err != nil {
		return 0, "", err
	}
	level, ok := v.(int64)
	if !ok {
		return 0, "", fmt.Errorf("pragma synchronous: unexpected %T", v)
	}
	v, err = pragmaValue(conn, "PRAGMA journal_mode")
	if err != nil {
		return 0, "", err
	}
	switch j := v.(type) {
	case string:
		journal = j
	case []byte:
		journal = string(j)
	default:
		return 0, "", fmt.Errorf("pragma journal_mode: unexpected %T", v)
	}
	return level, strings.ToLower(journal), nil
}

// pragmaValue returns the first column of the first row of a pragma query.
func pragmaValue(conn *sqlite3.SQLiteConn, q string) (driver.Value, error) {
	rows, err := conn.Query(q, nil)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%s: no result", strings.ToLower(q))
		}
		return nil, err
	}
	return dest[0], nil
}

// checkDurability returns ErrUnsafeDurability unless synchronous is FULL (2)
// or EXTRA (3) and the journal is a WAL.
func checkDurability(level int64, journal string) error {
	if level < 2 || journal != "wal" {
		return fmt.Errorf("%w: synchronous=%d journal_mode=%s (want synchronous>=2 (FULL), journal_mode=wal)",
			ErrUnsafeDurability, level, journal)
	}
	return nil
}
