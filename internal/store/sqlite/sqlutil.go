package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
)

// maxChunk is the most rows one multi-row statement carries: 64 messages of
// 15 columns stay far below SQLite's limit of 32,766 bound parameters.
const maxChunk = 64

// chunkSizes splits n rows into statements of maxChunk rows and a remainder
// in descending powers of two (100 → 64, 32, 4), so that each multi-row
// statement has one of only a few texts and stays in the connections'
// prepared-statement caches.
func chunkSizes(n int) []int {
	var sizes []int
	for n >= maxChunk {
		sizes = append(sizes, maxChunk)
		n -= maxChunk
	}
	for size := maxChunk / 2; size > 0; size /= 2 {
		if n >= size {
			sizes = append(sizes, size)
			n -= size
		}
	}
	return sizes
}

// valuesList returns "(?,?),(?,?)..." for rows tuples of cols parameters.
func valuesList(rows, cols int) string {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
	var b strings.Builder
	b.Grow(rows * (len(tuple) + 1))
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
	}
	return b.String()
}

// intValuesList is valuesList whose columns ints (numbered from 1, as
// v.column1...) hold integers. PostgreSQL types a VALUES column of
// parameters as text, which it neither adds to nor compares with an
// integer (and pgx does not encode a Go integer as text), and types the
// whole column as its first row says: so the first row's parameter of
// such a column is CAST(? AS BIGINT) + 0. The + 0 is for SQLite, where it
// leaves the integer as it is but drops the CAST's affinity: SQLite runs a
// VALUES list whose first row has an affinity as a materialized compound
// SELECT rather than as its plain VALUES scan.
func intValuesList(rows, cols int, ints ...int) string {
	if rows == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('(')
	for c := 1; c <= cols; c++ {
		if c > 1 {
			b.WriteByte(',')
		}
		if slices.Contains(ints, c) {
			b.WriteString("CAST(? AS BIGINT) + 0")
		} else {
			b.WriteByte('?')
		}
	}
	b.WriteByte(')')
	if rows > 1 {
		b.WriteString("," + valuesList(rows-1, cols))
	}
	return b.String()
}

// greatest is the SQL of the larger of two non-NULL values a and b, in the
// form SQLite and PostgreSQL share: SQLite's scalar max(a, b) is
// PostgreSQL's GREATEST(a, b), and neither engine has the other's. Each
// operand appears twice in the text: a parameter among them must be given
// twice (or be numbered).
func greatest(a, b string) string {
	return "CASE WHEN " + a + " >= " + b + " THEN " + a + " ELSE " + b + " END"
}

// least is the SQL of the smaller of two non-NULL values a and b (SQLite's
// scalar min, PostgreSQL's LEAST); see greatest.
func least(a, b string) string {
	return "CASE WHEN " + a + " <= " + b + " THEN " + a + " ELSE " + b + " END"
}

// ms converts t to Unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts Unix milliseconds to a UTC time; 0 is the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// boolInt stores a bool as 0 or 1.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// affected returns the number of rows a statement changed (its own, not
// its triggers'), its error classified.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, classify(err)
	}
	return n, nil
}

// queryAll runs a query and returns every row as scan reads it; errors
// are classified (scan's own are returned as they are, so it classifies
// what it returns).
func queryAll[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
