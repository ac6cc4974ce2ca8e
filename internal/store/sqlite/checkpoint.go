package sqlite

import (
	"context"
	"database/sql"
	"os"
	"time"
)

// The WAL is copied back into the database file (checkpointed) by a
// connection of its own, in the background, instead of by whichever
// commit makes the WAL cross its threshold: a checkpoint copies
// thousands of pages and syncs the database file, and every send queued
// behind that commit waited for it. A PASSIVE checkpoint takes no lock
// that a writer or a reader waits for: commits go on appending to the WAL
// while it copies.

// checkpointEvery is how often the background checkpoints, once the WAL
// file has reached checkpointFrom. A hot page (a conversation's last_seq,
// an index leaf) is copied back at most this often, however many commits
// change it; a WAL with nothing new costs only a look at its index.
const checkpointEvery = time.Second

// checkpointFrom is the size of the WAL file (4,000 pages of 4 KiB) below
// which the background does not checkpoint: as SQLite's automatic
// checkpoint, at the threshold the writer used before, so that the
// database takes no more disk than it did (a checkpoint copies the WAL's
// pages into the database file, and the WAL file keeps its size: on a
// nearly full disk, an early checkpoint would take the space the WAL
// already holds a second time). The WAL file is not truncated below its
// largest size (up to journal_size_limit), so once it has reached this
// size the background checkpoints every checkpointEvery.
const checkpointFrom = 4000 * 4096

// writerCheckpointPages is the WAL size, in pages (64 MiB), at which the
// writer checkpoints by itself, should the background fall behind.
const writerCheckpointPages = 16000

// checkpointer checkpoints the WAL on its own connection until stop is
// closed; done is closed when it has returned.
type checkpointer struct {
	db   *sql.DB // one connection, not the writer's
	wal  string  // the WAL file's path
	warn func(msg string, args ...any)
	stop chan struct{}
	done chan struct{}
}

func newCheckpointer(db *sql.DB, wal string, warn func(msg string, args ...any)) *checkpointer {
	c := &checkpointer{db: db, wal: wal, warn: warn, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if st, err := os.Stat(c.wal); err != nil || st.Size() < checkpointFrom {
				continue // none yet, or small: as SQLite's own threshold
			}
			if err := c.checkpoint(); err != nil {
				c.warn("sqlite: background checkpoint", "err", err)
			}
		}
	}
}

// checkpoint copies what it can of the WAL back into the database file.
func (c *checkpointer) checkpoint() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, frames, copied int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return classify(err)
	}
	return nil
}

// close stops the background and waits for a checkpoint in progress.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
