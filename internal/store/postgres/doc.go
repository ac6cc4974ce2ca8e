// Package postgres is Parley's PostgreSQL backend for cluster mode
// (store.driver: postgres; issue 13), on pgx through database/sql.
//
// Open returns a DB: store.Store and store.Maintenance on the database,
// after the start-up checks and the migrations. The schema is migrations/NNNN_description.sql,
// one file per version, numbered and named as internal/store/sqlite's and
// meaning the same (migrations_test.go holds them to it); Open applies
// the pending ones in one transaction under an advisory lock, so that
// nodes starting at once apply each migration exactly once and none runs
// on a schema another is changing. The version is the row of
// parley_schema. The query code of store.Store is the SQLite backend's
// (docs/adr/0012-postgres-shares-the-sql.md): it runs here through
// sqlite.OnEngine, with this package's engine (engine.go): placeholders
// rewritten (Rebind), strings passed as bytes, write transactions at
// SERIALIZABLE and run again, a bounded number of times, when they
// conflict with another's, reads at REPEATABLE READ.
//
// # Durability
//
// Open refuses a server that does not make a commit durable before it
// answers: synchronous_commit off or local-only fsync off. Options.Unsafe
// turns the refusal into a warning (tests on a throwaway server).
//
// # Concurrency
//
// A DB is safe for concurrent use; it is a database/sql pool. Several
// processes (nodes) may open the same database at once.
package postgres
