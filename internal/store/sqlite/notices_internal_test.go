package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// seedTagged creates n users u000000.. in one transaction, each with the
// tags tag(i) returns.
func seedTagged(t testing.TB, db *DB, n int, at time.Time, tag func(i int) map[string]string) {
	t.Helper()
	err := db.update(context.Background(), func(tx *Tx) error {
		for i := range n {
			u := fmt.Sprintf("u%06d", i)
			if _, err := tx.ExecContext(context.Background(), "INSERT INTO users (id, created_at) VALUES (?, ?)", u, ms(at)); err != nil {
				return err
			}
			for k, v := range tag(i) {
				if _, err := tx.ExecContext(context.Background(), "INSERT INTO user_tags (user_id, key, value, sys) VALUES (?, ?, ?, ?)", u, k, v, store.SystemConvID(u)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func openInternal(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "p.db"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestNoticeChunksAreBoundedForSelectiveAudiences: a notice whose
// required tag many users carry but few match (region=x AND plan=pro)
// looks at a bounded number of candidates per chunk, advancing the cursor
// even when a chunk stores nothing, and finds every match.
func TestNoticeChunksAreBoundedForSelectiveAudiences(t *testing.T) {
	t.Parallel()
	db := openInternal(t)
	ctx := context.Background()
	t0 := time.UnixMilli(1_767_225_600_000)
	const users = 10_000
	pro := map[int]bool{17: true, 5003: true, 9998: true}
	seedTagged(t, db, users, t0, func(i int) map[string]string {
		if pro[i] {
			return map[string]string{"region": "x", "plan": "pro"}
		}
		return map[string]string{"region": "x"}
	})
	to := store.TagExpr{Op: store.TagAnd, Args: []store.TagExpr{
		{Op: store.TagTerm, Key: "region", Value: "x"}, {Op: store.TagTerm, Key: "plan", Value: "pro"}}}
	for _, c := range []struct {
		id string
		to store.TagExpr
	}{{"driven", to}, {"scanned", store.TagExpr{Op: store.TagNot, Args: []store.TagExpr{{Op: store.TagNot, Args: []store.TagExpr{to}}}}}} {
		if err := db.CreateNotice(ctx, store.Notice{ID: c.id, To: c.to, Body: "hi", CreatedAt: t0.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		var got []string
		chunks := 0
		for {
			chunks++
			copies, n, err := db.SendNoticeChunk(ctx, c.id, 100, 0, t0.Add(2*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for _, cp := range copies {
				got = append(got, cp.User)
			}
			if n.State == store.NoticeDone {
				break
			}
			if chunks > 10 {
				t.Fatalf("%s: not done after %d chunks (cursor %s)", c.id, chunks, n.Cursor)
			}
		}
		slices.Sort(got)
		if want := "u000017 u005003 u009998"; strings.Join(got, " ") != want {
			t.Errorf("%s: sent to %v, want %s", c.id, got, want)
		}
		// 10,000 candidates, at most noticeScan(100) = 4,096 a chunk.
		if chunks != 3 {
			t.Errorf("%s: %d chunks, want 3", c.id, chunks)
		}
	}
}

// TestNoticeQueriesUseIndexes: the audience's queries never scan a table
// in full: they search the users by primary key and the tags by their
// value index.
func TestNoticeQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	db := openInternal(t)
	ctx := context.Background()
	for _, to := range []store.TagExpr{
		{Op: store.TagTerm, Key: "region", Value: "x"},
		{Op: store.TagNot, Args: []store.TagExpr{{Op: store.TagTerm, Key: "region", Value: "x"}}},
	} {
		a := audience{store.Notice{ID: "n", To: to}}
		cq, cargs := a.candidates("u1")
		lq, largs := a.lost("u1", "u9")
		qs, qargs := []string{cq}, [][]any{append(cargs, 10)}
		if lq != "" {
			qs, qargs = append(qs, lq+" LIMIT 10"), append(qargs, largs)
		}
		for i, q := range qs {
			rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, qargs[i]...)
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
			rows.Close()
			for _, p := range plan {
				if strings.HasPrefix(p, "SCAN ") || strings.Contains(p, "TEMP B-TREE") {
					t.Errorf("%s: %q in the plan of %s:\n%s", to, p, q, strings.Join(plan, "\n"))
				}
			}
		}
	}
}
