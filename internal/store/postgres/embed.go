package postgres

import "embed"

// Migrations holds the schema migrations, migrations/NNNN_description.sql,
// numbered from 1 without gaps like SQLite's: migration N brings the
// schema from version N-1 to N. A released migration is never edited.
//
//go:embed migrations/*.sql
var Migrations embed.FS
