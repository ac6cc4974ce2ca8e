// Package pgtest starts a real PostgreSQL 15 server for tests and hands out
// fresh, empty databases on it.
//
// The server comes from Debian's binaries (/usr/lib/postgresql/15/bin, from
// `apt-get install postgresql`; PGTEST_BINDIR names another directory). It
// runs in a temporary directory on a free loopback port, TCP only, with
// fsync and full_page_writes off (a test server needs no crash safety;
// synchronous_commit keeps its default, on). initdb and postgres refuse to
// run as root, so as root they run as the `postgres` user on a directory it
// owns; as any other user they run as that user. Missing binaries are an
// error naming the package to install, never a skip: CI installs them.
//
// One server per test package, started in TestMain:
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }
//
//	func TestX(t *testing.T) {
//		dsn := pg.NewDatabase(t) // dropped when t ends
//		...
//	}
//
// or with Start and Stop directly. Every database NewDatabase makes is
// created from template0 with an ICU en-US default collation, the kind of
// collation a production server has, where text does not sort in byte
// order ('B' < 'a' is false, '_' sorts before letters...): SQL whose
// results depend on text order must say COLLATE "C", and tests on pgtest
// catch the places that forget it. Another template, prepared once with
// CreateTemplate (a migrated schema, say), is cloned by NewDatabaseFrom.
//
// Concurrency: a Server's methods are safe for concurrent use, including
// NewDatabase from parallel tests; each database has a unique name. Stop
// may be called more than once and from any goroutine; databases asked for
// after Stop fail their test. Dropping a database at the end of its test
// terminates the connections the test left open (DROP DATABASE ... WITH
// (FORCE)).
//
// No process outlives the test binary: postgres runs as a direct child
// with a parent-death signal (SIGKILL), started from a goroutine locked to
// its OS thread for the server's lifetime, and its backends exit when it
// dies; Stop shuts it down (fast mode, then SIGKILL after a deadline) and
// removes the temporary directory. Directories left by a binary that was
// killed (go test -timeout, SIGKILL) are removed by the next Start, with the
// shared memory segment their server left.
//
// Every wait is bounded: Start by its context (Main gives it two minutes),
// database creation and drop by 60 seconds, Stop by 20 seconds.
package pgtest
