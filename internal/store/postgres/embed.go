// Package postgres will hold Parley's PostgreSQL store (issue 13). For now
// it holds the schema: migrations/NNNN_description.sql, one file per
// version, numbered and named as internal/store/sqlite/migrations/ and
// meaning the same (migrations_test.go holds them to it).
package postgres

import "embed"

// Migrations holds the schema migrations, migrations/NNNN_description.sql,
// numbered from 1 without gaps like SQLite's: migration N brings the
// schema from version N-1 to N. A released migration is never edited.
//
//go:embed migrations/*.sql
var Migrations embed.FS
