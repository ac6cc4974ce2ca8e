package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, for the SQLite schema to compare with
)

// sqliteMigrations is where the SQLite schema's files are, read from disk
// so that a SQLite migration without its PostgreSQL twin fails here.
const sqliteMigrations = "../sqlite/migrations"

// migrationFile is one schema step of either dialect.
type migrationFile struct{ name, sql string }

func pgFiles(t *testing.T) []migrationFile {
	t.Helper()
	names, err := fs.Glob(Migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var out []migrationFile
	for _, n := range names {
		b, err := Migrations.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, migrationFile{path.Base(n), string(b)})
	}
	return out
}

func sqliteFiles(t *testing.T) []migrationFile {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(sqliteMigrations, "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("no SQLite migrations in %s", sqliteMigrations)
	}
	var out []migrationFile
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, migrationFile{filepath.Base(n), string(b)})
	}
	return out
}

// Every SQLite migration has a PostgreSQL twin of the same name, and no
// more: the two version sequences stay aligned.
func TestMigrationFilesAligned(t *testing.T) {
	var want, got []string
	for _, f := range sqliteFiles(t) {
		want = append(want, f.name)
	}
	for _, f := range pgFiles(t) {
		got = append(got, f.name)
	}
	if !slices.Equal(want, got) {
		t.Fatalf("PostgreSQL migrations %q\ndo not match SQLite's %q\n(each file of internal/store/sqlite/migrations needs its twin in internal/store/postgres/migrations)", got, want)
	}
	for i, n := range got {
		if want := fmt.Sprintf("%04d_", i+1); !strings.HasPrefix(n, want) {
			t.Errorf("migration %s: want the prefix %s", n, want)
		}
	}
}

// openSQLite opens an in-memory SQLite database on one connection.
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func applySQLite(t *testing.T, db *sql.DB, files []migrationFile) {
	t.Helper()
	for _, f := range files {
		if _, err := db.Exec(f.sql); err != nil {
			t.Fatalf("SQLite %s: %v", f.name, err)
		}
	}
}

func openPG(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// applyPG applies files in one transaction, as a store would.
func applyPG(t *testing.T, conn *pgx.Conn, files []migrationFile) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, f := range files {
		// Without arguments pgx uses the simple protocol: a file is
		// several statements.
		if _, err := tx.Exec(ctx, f.sql); err != nil {
			t.Fatalf("PostgreSQL %s: %v", f.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

// The schema model both dialects are read into, in PostgreSQL's terms.
type (
	column struct {
		Name, Type string
		NotNull    bool
		Default    string // normalized; "" for none
		Identity   bool   // SQLite: an INTEGER PRIMARY KEY rowid alias
	}
	index struct {
		Name   string // "" for a constraint's (PRIMARY KEY, UNIQUE), whose names differ
		Unique bool
		Cols   string // comma-separated, in order
		Where  string // normalized predicate of a partial index
	}
	table struct {
		Cols     []column
		PK       string // comma-separated, in order
		Indexes  []index
		Triggers []string
	}
)

// sqliteTypes maps the declared types the SQLite schema uses.
var sqliteTypes = map[string]string{"INTEGER": "bigint", "TEXT": "text", "BLOB": "bytea"}

// byteExact are the TEXT columns of free text that users write, stored
// byte-exact (NUL bytes and invalid UTF-8 included), which PostgreSQL keeps
// as BYTEA (migrations/0001_init.sql says why).
var byteExact = map[string]bool{
	"messages.body": true, "users.display_name": true, "users.password_hash": true,
	"conversations.name": true, "friend_requests.text": true, "notices.body": true,
	"moments.text": true, "moment_comments.text": true, "broadcast_lists.name": true,
}

var (
	castRE     = regexp.MustCompile(`::[a-z ]+`)
	quotedNum  = regexp.MustCompile(`^'(-?[0-9]+)'$`)
	whereRE    = regexp.MustCompile(`(?is)\bWHERE\b(.*)$`)
	spacesRE   = regexp.MustCompile(`[\s()]+`)
	autoincrRE = regexp.MustCompile(`(?i)\bAUTOINCREMENT\b`)
)

// normDefault makes PostgreSQL's column_default and SQLite's dflt_value
// comparable: '[]'::text is '[]', '-1'::integer is -1.
func normDefault(s string) string {
	s = castRE.ReplaceAllString(strings.TrimSpace(s), "")
	if m := quotedNum.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	return s
}

// normPredicate makes partial-index predicates comparable:
// (kind = 'edit'::text) is kind='edit', and != is <>.
func normPredicate(s string) string {
	s = castRE.ReplaceAllString(strings.ToLower(s), "")
	s = strings.TrimSuffix(strings.TrimSpace(s), ";")
	s = strings.ReplaceAll(s, "!=", "<>")
	return spacesRE.ReplaceAllString(s, "")
}

func sqliteSchema(t *testing.T, db *sql.DB) map[string]*table {
	t.Helper()
	rows, err := db.Query(`SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	type obj struct{ typ, name, tbl, sql string }
	var objs []obj
	for rows.Next() {
		var o obj
		if err := rows.Scan(&o.typ, &o.name, &o.tbl, &o.sql); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	sqlOf := map[string]string{}
	for _, o := range objs {
		sqlOf[o.typ+" "+o.name] = o.sql
	}

	out := map[string]*table{}
	for _, o := range objs {
		if o.typ != "table" {
			continue
		}
		tb := &table{}
		out[o.name] = tb
		withoutRowid := strings.Contains(strings.ToUpper(o.sql), "WITHOUT ROWID")
		rows, err := db.Query(`SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`, o.name)
		if err != nil {
			t.Fatal(err)
		}
		pk := map[int]string{}
		for rows.Next() {
			var c column
			var typ string
			var notnull, pkn int
			var dflt sql.NullString
			if err := rows.Scan(&c.Name, &typ, &notnull, &dflt, &pkn); err != nil {
				t.Fatal(err)
			}
			var ok bool
			if c.Type, ok = sqliteTypes[strings.ToUpper(typ)]; !ok {
				t.Errorf("SQLite %s.%s: declared type %q has no PostgreSQL counterpart in this test", o.name, c.Name, typ)
			}
			if byteExact[o.name+"."+c.Name] {
				if c.Type != "text" {
					t.Errorf("SQLite %s.%s: %s, but byteExact expects TEXT", o.name, c.Name, typ)
				}
				c.Type = "bytea"
			}
			c.NotNull = notnull != 0
			c.Default = normDefault(dflt.String)
			if pkn > 0 {
				pk[pkn] = c.Name
			}
			tb.Cols = append(tb.Cols, c)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		var pkCols []string
		for i := 1; i <= len(pk); i++ {
			pkCols = append(pkCols, pk[i])
		}
		tb.PK = strings.Join(pkCols, ",")
		// A rowid alias (INTEGER PRIMARY KEY of a rowid table) is a
		// generated, never-null key: an identity column in PostgreSQL.
		if len(pkCols) == 1 && !withoutRowid {
			for i := range tb.Cols {
				if c := &tb.Cols[i]; c.Name == pkCols[0] && c.Type == "bigint" {
					c.Identity, c.NotNull = true, true
				}
			}
			if !autoincrRE.MatchString(o.sql) {
				t.Errorf("SQLite table %s: a rowid alias without AUTOINCREMENT reuses ids; this test expects AUTOINCREMENT's identity column", o.name)
			}
		}

		irows, err := db.Query(`SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, o.name)
		if err != nil {
			t.Fatal(err)
		}
		type il struct {
			name           string
			unique, origin string
			partial        bool
		}
		var ils []il
		for irows.Next() {
			var x il
			if err := irows.Scan(&x.name, &x.unique, &x.origin, &x.partial); err != nil {
				t.Fatal(err)
			}
			ils = append(ils, x)
		}
		irows.Close()
		for _, x := range ils {
			if x.origin == "pk" {
				continue // compared as PK
			}
			var cols []string
			crows, err := db.Query(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`, x.name)
			if err != nil {
				t.Fatal(err)
			}
			for crows.Next() {
				var c sql.NullString
				if err := crows.Scan(&c); err != nil {
					t.Fatal(err)
				}
				if !c.Valid {
					t.Errorf("SQLite index %s: an expression index; this test compares column indexes only", x.name)
				}
				cols = append(cols, c.String)
			}
			crows.Close()
			ix := index{Unique: x.unique == "1", Cols: strings.Join(cols, ",")}
			if x.origin == "c" {
				ix.Name = x.name
			}
			if x.partial {
				m := whereRE.FindStringSubmatch(sqlOf["index "+x.name])
				if m == nil {
					t.Fatalf("SQLite index %s: partial, but no WHERE in %q", x.name, sqlOf["index "+x.name])
				}
				ix.Where = normPredicate(m[1])
			}
			tb.Indexes = append(tb.Indexes, ix)
		}
		sortIndexes(tb.Indexes)
	}
	for _, o := range objs {
		if o.typ == "trigger" {
			tb := out[o.tbl]
			if tb == nil {
				t.Fatalf("SQLite trigger %s on unknown table %s", o.name, o.tbl)
			}
			tb.Triggers = append(tb.Triggers, o.name)
		}
	}
	for _, tb := range out {
		sort.Strings(tb.Triggers)
	}
	return out
}

func sortIndexes(ix []index) {
	sort.Slice(ix, func(i, j int) bool {
		if ix[i].Name != ix[j].Name {
			return ix[i].Name < ix[j].Name
		}
		return ix[i].Cols < ix[j].Cols
	})
}

func pgSchema(t *testing.T, conn *pgx.Conn) map[string]*table {
	t.Helper()
	ctx := context.Background()
	var names []string
	rows, err := conn.Query(ctx, `SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*table{}
	for _, name := range names {
		tb := &table{}
		out[name] = tb
		rel := "public." + name
		rows, err := conn.Query(ctx, `SELECT column_name::text, data_type::text, is_nullable = 'NO', coalesce(column_default, ''),
			is_identity = 'YES', coalesce(collation_name::text, '')
			FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c column
			var collation string
			if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &c.Default, &c.Identity, &collation); err != nil {
				t.Fatal(err)
			}
			c.Default = normDefault(c.Default)
			if c.Type == "bytea" && c.Default == `'\x'` {
				c.Default = "''" // the empty BYTEA
			}
			if c.Type == "text" && collation != "C" {
				// SQLite compares and orders text in byte order (BINARY).
				t.Errorf("PostgreSQL %s.%s: collation %q, want \"C\" (SQLite's byte order)", name, c.Name, collation)
			}
			tb.Cols = append(tb.Cols, c)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows, err = conn.Query(ctx, `SELECT ic.relname::text, i.indisunique, i.indisprimary,
			coalesce(pg_get_expr(i.indpred, i.indrelid), ''),
			EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid),
			array_to_string(ARRAY(
				SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(attnum, ord)
				JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.attnum ORDER BY u.ord), ','),
			i.indexprs IS NOT NULL
			FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
			WHERE i.indrelid = to_regclass($1)`, rel)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var ix index
			var name, where string
			var primary, constraint, exprs bool
			if err := rows.Scan(&name, &ix.Unique, &primary, &where, &constraint, &ix.Cols, &exprs); err != nil {
				t.Fatal(err)
			}
			if exprs {
				t.Errorf("PostgreSQL index %s: an expression index; SQLite has none", name)
			}
			if primary {
				tb.PK = ix.Cols
				continue
			}
			if !constraint {
				ix.Name = name
			}
			ix.Where = normPredicate(where)
			tb.Indexes = append(tb.Indexes, ix)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		sortIndexes(tb.Indexes)
		rows, err = conn.Query(ctx, `SELECT tgname::text FROM pg_trigger WHERE tgrelid = to_regclass($1) AND NOT tgisinternal ORDER BY 1`, rel)
		if err != nil {
			t.Fatal(err)
		}
		tb.Triggers, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The PostgreSQL migrations, applied in order to an empty database, make
// the schema the SQLite migrations make: the same tables with the same
// columns in the same order (types mapped, nullability, defaults), the
// same primary keys, indexes (name, uniqueness, columns in order, partial
// predicate), UNIQUE constraints and triggers, and nothing else. Text
// columns are COLLATE "C" (SQLite's byte order), but for the byteExact
// ones, which are BYTEA.
func TestSchemaMatchesSQLite(t *testing.T) {
	lite := openSQLite(t)
	applySQLite(t, lite, sqliteFiles(t))
	want := sqliteSchema(t, lite)

	conn := openPG(t)
	applyPG(t, conn, pgFiles(t))
	got := pgSchema(t, conn)

	if len(want) < 30 {
		t.Fatalf("read only %d SQLite tables", len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("table %s: in SQLite, not in PostgreSQL", name)
			continue
		}
		if !slices.Equal(w.Cols, g.Cols) {
			t.Errorf("table %s: columns differ\nSQLite:     %+v\nPostgreSQL: %+v", name, w.Cols, g.Cols)
		}
		if w.PK != g.PK {
			t.Errorf("table %s: primary key (%s) in SQLite, (%s) in PostgreSQL", name, w.PK, g.PK)
		}
		if !slices.Equal(w.Indexes, g.Indexes) {
			t.Errorf("table %s: indexes differ (unnamed: a UNIQUE constraint's)\nSQLite:     %+v\nPostgreSQL: %+v", name, w.Indexes, g.Indexes)
		}
		if !slices.Equal(w.Triggers, g.Triggers) {
			t.Errorf("table %s: triggers %q in SQLite, %q in PostgreSQL", name, w.Triggers, g.Triggers)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("table %s: in PostgreSQL, not in SQLite", name)
		}
	}
}

// seed is data for the backfills of migrations 2, 4 and 6, valid SQL in
// both dialects against the schema of version 1: members and senders for
// participants, messages with deletions for the running counts and the
// Fenwick tree, a sender's read position below its own message, and QoS 2
// keys that migration 6 must take or leave.
const seed = `
INSERT INTO conversations (id, kind, name, created_by, created_at, last_seq, updated_at) VALUES
	('c1', 'group', 'g', 'alice', 1, 7, 1),
	('c2', 'direct', '', 'bob', 1, 3, 1),
	('c3', 'group', '', 'bob', 1, 0, 1);
INSERT INTO members (conv_id, user_id, role, joined_seq, read_seq, delivered_seq) VALUES
	('c1', 'alice', 'owner', 0, 2, 2),
	('c1', 'bob', 'member', 0, 7, 7),
	('c2', 'bob', 'member', 0, 0, 0),
	('c2', 'carol', 'member', 0, 0, 0);
INSERT INTO messages (conv_id, seq, id, sender, client_msg_id, kind, body, target, created_at, deleted) VALUES
	('c1', 1, 'm1', 'alice', 'a1', 'msg', 'one', 0, 1, 0),
	('c1', 2, 'm2', 'bob', 'q2:0123456789abcdef:42', 'msg', 'two', 0, 1, 1),
	('c1', 3, 'm3', 'alice', 'q2:0123456789abcdef:42:released', 'msg', 'three', 0, 1, 0),
	('c1', 4, 'm4', 'alice', '', 'edit', 'three!', 3, 1, 0),
	('c1', 5, 'm5', 'alice', 'q2:0123456789ABCDEF:7', 'msg', 'five', 0, 1, 1),
	('c1', 6, 'm6', 'dave', 'q2:0123456789abcdef:0', 'msg', 'six', 0, 1, 0),
	('c1', 7, 'm7', 'alice', 'q2:0123456789abcdef:65535', 'msg', 'seven', 0, 1, 1),
	('c2', 1, 'n1', 'carol', 'q2:0123456789abcdef:123456', 'msg', 'x', 0, 1, 0),
	('c2', 2, 'n2', 'carol', 'q2:0123456789abcdef:9x', 'msg', 'y', 0, 1, 0),
	('c2', 3, 'n3', 'bob', 'q2:0123456789abcdef:9', 'join', '', 0, 1, 0);
`

// The data steps of the migrations do in PostgreSQL what they do in
// SQLite: both schemas at version 1 get the same rows, then migrations 2
// to the last, and every table then holds the same rows.
func TestBackfillsMatchSQLite(t *testing.T) {
	lf, pf := sqliteFiles(t), pgFiles(t)
	if len(lf) != len(pf) {
		t.Fatalf("%d SQLite migrations, %d PostgreSQL ones", len(lf), len(pf))
	}
	lite := openSQLite(t)
	applySQLite(t, lite, lf[:1])
	if _, err := lite.Exec(seed); err != nil {
		t.Fatalf("SQLite seed: %v", err)
	}
	applySQLite(t, lite, lf[1:])

	conn := openPG(t)
	applyPG(t, conn, pf[:1])
	if _, err := conn.Exec(context.Background(), seed); err != nil {
		t.Fatalf("PostgreSQL seed: %v", err)
	}
	applyPG(t, conn, pf[1:])

	for name := range sqliteSchema(t, lite) {
		q := "SELECT * FROM " + name
		want := dumpSQLite(t, lite, q)
		got := dumpPG(t, conn, q)
		if !slices.Equal(want, got) {
			t.Errorf("table %s after the migrations:\nSQLite:     %q\nPostgreSQL: %q", name, want, got)
		}
	}
	// The seed reached every backfill.
	for q, n := range map[string]int{
		"SELECT * FROM participants": 5, "SELECT * FROM deleted_tree": 6,
		"SELECT * FROM packet_keys": 3, "SELECT * FROM members WHERE read_seq = 7": 2,
	} {
		if got := len(dumpSQLite(t, lite, q)); got != n {
			t.Errorf("%s: %d rows, want %d", q, got, n)
		}
	}
}

func fmtValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		// BLOB and BYTEA, and TEXT that is BYTEA here (byteExact).
		return string(v)
	default:
		return fmt.Sprint(v)
	}
}

// dumpSQLite returns the rows of q, each as its values joined by |, sorted.
func dumpSQLite(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = fmtValue(v)
		}
		out = append(out, strings.Join(s, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func dumpPG(t *testing.T, conn *pgx.Conn, q string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = fmtValue(v)
		}
		out = append(out, strings.Join(s, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
