package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// The WAL is copied back into the database file (checkpointed) by a
// connection of its own, in the background, instead of by whichever
// commit makes the WAL cross SQLite's threshold: a checkpoint copies
// thousands of pages and syncs the database file, and every send queued
// behind that commit waited for it. A PASSIVE checkpoint takes no lock
// that a writer or a reader waits for: commits go on appending to the WAL
// while it copies.

// checkpointEvery is how often the background checkpoints. A hot page (a
// conversation's last_seq, an index leaf) is copied back at most this
// often, however many commits change it; a WAL with nothing new costs
// only a look at its index.
const checkpointEvery = time.Second

// writerCheckpointPages is the WAL size, in pages (64 MiB), at which the
// writer checkpoints by itself, should the background fall behind.
const writerCheckpointPages = 16000

// checkpointer checkpoints the WAL on its own connection until stop is
// closed; done is closed when it has returned.
type checkpointer struct {
	db   *sql.DB // one connection, not the writer's
	warn func(msg string, args ...any)
	stop chan struct{}
	done chan struct{}
}

func newCheckpointer(db *sql.DB, warn func(msg string, args ...any)) *checkpointer {
	c := &checkpointer{db: db, warn: warn, stop: make(chan struct{}), done: make(chan struct{})}
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
			if _, _, err := c.checkpoint(); err != nil {
				c.warn("sqlite: background checkpoint", "err", err)
			}
		}
	}
}

// checkpoint copies what it can of the WAL back into the database file
// and returns the WAL's frames and those of them now copied.
func (c *checkpointer) checkpoint() (frames, copied int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy int
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return 0, 0, classify(err)
	}
	return frames, copied, nil
}

// close stops the background and waits for a checkpoint in progress.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
