// Package postgres is Parley's PostgreSQL backend for cluster mode
// (store.driver: postgres; issue 13), on pgx through database/sql.
//
// What is here so far: opening a database (Open) with the start-up
// checks, and the schema. The schema is migrations/NNNN_description.sql,
// one file per version, numbered and named as internal/store/sqlite's and
// meaning the same (migrations_test.go holds them to it); Open applies
// the pending ones in one transaction under an advisory lock, so that
// nodes starting at once apply each migration exactly once and none runs
// on a schema another is changing. The version is the row of
// parley_schema. The query code of store.Store is shared with the SQLite
// backend (it reaches the database through one seam where this package
// rewrites placeholders: Rebind), and is not wired here yet.
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
