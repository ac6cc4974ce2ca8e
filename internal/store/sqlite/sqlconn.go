package sqlite

import (
	"context"
	"database/sql"
)

// The SQL of this package reaches the database only through Tx and pool,
// never through database/sql directly, so that statements pass one seam
// where a backend's differences are applied (bind: SQLite takes them as
// written with ? placeholders; a backend with numbered placeholders
// rewrites them there).

// Tx is a transaction of the store: a write transaction from DB.update or
// a read snapshot from DB.view.
type Tx struct {
	tx   *sql.Tx
	bind func(string) string
	args func([]any) []any // the engine's argument conversion (nil: none)
}

// ExecContext runs a statement that returns no rows.
func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.bind(query), convert(t.args, args)...)
}

// QueryContext runs a query.
func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.bind(query), convert(t.args, args)...)
}

// QueryRowContext runs a query expected to return at most one row.
func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.bind(query), convert(t.args, args)...)
}

// pool is a connection pool (the writer or the readers) for statements
// outside a transaction.
type pool struct {
	db   *sql.DB
	bind func(string) string
	args func([]any) []any // the engine's argument conversion (nil: none)
	opts *sql.TxOptions    // of the transactions begun (nil: the driver's default)
}

// QueryContext runs a query on a connection of the pool.
func (p pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(ctx, p.bind(query), convert(p.args, args)...)
}

// QueryRowContext runs a query expected to return at most one row.
func (p pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return p.db.QueryRowContext(ctx, p.bind(query), convert(p.args, args)...)
}

// begin starts a transaction on a connection of the pool.
func (p pool) begin(ctx context.Context) (*Tx, error) {
	tx, err := p.db.BeginTx(ctx, p.opts)
	if err != nil {
		return nil, err
	}
	return &Tx{tx: tx, bind: p.bind, args: p.args}, nil
}

// convert applies an engine's argument conversion, if any.
func convert(conv func([]any) []any, args []any) []any {
	if conv == nil {
		return args
	}
	return conv(args)
}

// asWritten is SQLite's bind: statements go as written.
func asWritten(q string) string { return q }
