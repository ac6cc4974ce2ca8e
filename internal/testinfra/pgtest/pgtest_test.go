package pgtest

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var pg *Server

func TestMain(m *testing.M) { os.Exit(Main(m, &pg)) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Two databases of one server share nothing: a table made in one is not in
// the other, and both start empty.
func TestDatabasesIsolated(t *testing.T) {
	t.Parallel()
	a, b := pg.NewDatabase(t), pg.NewDatabase(t)
	if a == b {
		t.Fatalf("the same DSN twice: %s", a)
	}
	ca, cb := connect(t, a), connect(t, b)
	for _, c := range []*pgx.Conn{ca, cb} {
		var n int
		if err := c.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("fresh database has %d tables (%v)", n, err)
		}
	}
	mustExec(t, ca, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)")
	mustExec(t, ca, "INSERT INTO kv VALUES ('x', 1)")
	var v int64
	if err := ca.QueryRow(context.Background(), "SELECT v FROM kv WHERE k = 'x'").Scan(&v); err != nil || v != 1 {
		t.Fatalf("read back in a: %d, %v", v, err)
	}
	_, err := cb.Exec(context.Background(), "SELECT * FROM kv")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" { // undefined_table
		t.Fatalf("table of database a seen in database b: %v", err)
	}
	mustExec(t, cb, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)")
	if err := cb.QueryRow(context.Background(), "SELECT count(*) FROM kv").Scan(&v); err != nil || v != 0 {
		t.Fatalf("rows of a in b: %d, %v", v, err)
	}
}

// A database goes when its test ends, even with a connection left open.
func TestDatabaseDropped(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("use", func(t *testing.T) {
		dsn := pg.NewDatabase(t)
		c := connect(t, dsn)
		if err := c.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		// Left open on purpose: the drop must not wait for it.
		leaked, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		_ = leaked
	})
	c := connect(t, pg.DSN("postgres"))
	var n int
	if err := c.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %q still there after its test (%d, %v)", name, n, err)
	}
}

// The databases sort text as a production server does (ICU en-US), not in
// byte order, unless COLLATE "C" is said.
func TestCollation(t *testing.T) {
	t.Parallel()
	if !pg.icu {
		t.Log("no ICU in this PostgreSQL: byte order")
		return
	}
	c := connect(t, pg.NewDatabase(t))
	var def, byteOrder bool
	if err := c.QueryRow(context.Background(), `SELECT 'B' < 'a', 'B' < 'a' COLLATE "C"`).Scan(&def, &byteOrder); err != nil {
		t.Fatal(err)
	}
	if def || !byteOrder {
		t.Fatalf("'B' < 'a': default collation %v (want false), C %v (want true)", def, byteOrder)
	}
}

// A template that CreateTemplate prepared is cloned with its contents.
func TestTemplate(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := pg.dbName("tmpl")
	err := pg.CreateTemplate(ctx, name, func(ctx context.Context, dsn string) error {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, "CREATE TABLE t (id BIGINT PRIMARY KEY); INSERT INTO t VALUES (7)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		t.Run("clone", func(t *testing.T) {
			c := connect(t, pg.NewDatabaseFrom(t, name))
			var id int
			if err := c.QueryRow(context.Background(), "SELECT id FROM t").Scan(&id); err != nil || id != 7 {
				t.Fatalf("clone: %d, %v", id, err)
			}
			mustExec(t, c, "INSERT INTO t VALUES (8)")
		})
	}
}

// Databases made by parallel tests, and how long one takes.
func TestParallelDatabases(t *testing.T) {
	t.Parallel()
	const n = 6
	var mu sync.Mutex
	var total time.Duration
	for i := 0; i < n; i++ {
		t.Run("db", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			dsn := pg.NewDatabase(t)
			d := time.Since(start)
			mu.Lock()
			total += d
			mu.Unlock()
			c := connect(t, dsn)
			mustExec(t, c, "CREATE TABLE x (id BIGINT)")
		})
	}
	t.Cleanup(func() { t.Logf("NewDatabase: %v on average over %d parallel calls", total/n, n) })
}

// A server of its own: started, used and stopped, leaving no process and
// no directory.
func TestStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	s, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start: %v", time.Since(start))
	defer s.Stop()
	begin := time.Now()
	dsn := s.NewDatabase(t)
	t.Logf("NewDatabase: %v", time.Since(begin))
	c := connect(t, dsn)
	mustExec(t, c, "SELECT 1")
	c.Close(context.Background())
	pid := s.cmd.Process.Pid
	begin = time.Now()
	s.Stop()
	t.Logf("Stop: %v", time.Since(begin))
	s.Stop()
	if alive(pid) {
		t.Errorf("postgres %d still running after Stop", pid)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("directory %s left after Stop: %v", s.dir, err)
	}
	if !strings.HasPrefix(s.DSN("x"), "postgres://") {
		t.Errorf("DSN %q", s.DSN("x"))
	}
}
