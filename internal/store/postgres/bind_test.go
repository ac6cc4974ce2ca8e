package postgres

import "testing"

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2"},
		{"UPDATE t SET a = ?2 WHERE id = ?1 AND b = ?2", "UPDATE t SET a = $2 WHERE id = $1 AND b = $2"},
		// SQLite numbers a bare ? one past the largest number so far.
		{"SELECT ?3, ?, ?1, ?", "SELECT $3, $4, $1, $5"},
		{"SELECT '?', \"a?b\", ? -- what?\n, ?", "SELECT '?', \"a?b\", $1 -- what?\n, $2"},
		{"SELECT 'it''s ?' || ?", "SELECT 'it''s ?' || $1"},
		{"SELECT /* ? */ ?", "SELECT /* ? */ $1"},
		{"SELECT ?10", "SELECT $10"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
	} {
		if got := Rebind(c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Rebind(c.in); got != c.want { // from the cache
			t.Errorf("Rebind(%q) again = %q", c.in, got)
		}
	}
}
