package sqlite

import (
	"strings"
	"testing"
)

// TestDedupeLookupsUseIndexes: the dedupe and packet-key lookups of a batch
// take its keys as the outer loop and search messages and packet_keys by
// index, at every chunk size. SQLite's planner chooses that order by itself
// (the queries say JOIN, not SQLite's order-forcing CROSS JOIN, which
// PostgreSQL does not accept with ON).
func TestDedupeLookupsUseIndexes(t *testing.T) {
	t.Parallel()
	db := openInternal(t)
	for _, size := range []int{1, 2, 4, 8, 16, 32, maxChunk} {
		for _, c := range []struct {
			q    string
			want []string
		}{
			{priorSQL(size), []string{"SEARCH m USING INDEX messages_dedupe (sender=? AND client_msg_id=?)"}},
			{packetKeysSQL(size), []string{"SEARCH k USING PRIMARY KEY (sender=? AND key=?)",
				"SEARCH m USING INDEX messages_conv_seq (conv_id=? AND seq=?)"}},
		} {
			rows, err := db.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+c.q, make([]any, 2*size)...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			// The keys (v) first, then the searches in order.
			var searches []string
			for _, p := range plan {
				switch {
				case strings.HasPrefix(p, "SEARCH "):
					searches = append(searches, p)
				case p == "SCAN v", p == "SCAN CONSTANT ROW", p == "CO-ROUTINE v", strings.HasSuffix(p, "-ROW VALUES CLAUSE"):
				default:
					t.Errorf("%d keys: %q in the plan:\n%s", size, p, strings.Join(plan, "\n"))
				}
			}
			if strings.Join(searches, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("%d keys: searches\n%s\nwant\n%s", size, strings.Join(searches, "\n"), strings.Join(c.want, "\n"))
			}
		}
	}
}
