package sqlite

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBackgroundCheckpoint: what commits write to the WAL reaches the
// database file, once the WAL has passed 16 MiB, without any commit
// checkpointing (the writer's own threshold, 64 MiB, is far away): the
// background does it.
func TestBackgroundCheckpoint(t *testing.T) {
	t.Parallel()
	db := openInternal(t)
	main := func() int64 {
		st, err := os.Stat(db.path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	before := main()
	body := strings.Repeat("x", 2000)
	err := db.update(context.Background(), func(tx *Tx) error {
		for i := range 10000 { // about 20 MiB: past the background's threshold, far below the writer's
			if _, err := tx.ExecContext(context.Background(), "INSERT INTO users (id, display_name, created_at) VALUES (?, ?, 0)", fmt.Sprintf("u%05d", i), body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for main() < before+10000*2000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes 10 s after the commit (was %d): the WAL was not checkpointed", main(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
