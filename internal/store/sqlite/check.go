package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// maxCheckLines bounds how many problems a failed check reports.
const maxCheckLines = 5

// verifyDurability reads the writer connection's synchronous level and
// journal mode. Below FULL or outside WAL it fails with ErrUnsafeDurability,
// or, if unsafe, logs a warning and lets Open go on.
func (db *DB) verifyDurability(ctx context.Context, unsafe bool) error {
	var level int64
	var journal string
	if err := db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
		return fmt.Errorf("read synchronous: %w", classify(err))
	}
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&journal); err != nil {
		return fmt.Errorf("read journal mode: %w", classify(err))
	}
	err := checkDurability(level, strings.ToLower(journal))
	if err == nil {
		return nil
	}
	if !unsafe {
		return err
	}
	db.log.Warn("sqlite: UNSAFE: running with lowered durability because Options.Unsafe is set; "+
		"acknowledged messages may be lost on a crash",
		"path", db.path, "synchronous", level, "journal_mode", journal)
	return nil
}

// quickCheck runs PRAGMA quick_check on the writer: an O(size) structural
// check of every B-tree, cheaper than integrity_check because it does not
// match index entries to rows.
func quickCheck(ctx context.Context, w *sql.DB) error {
	return runCheck(ctx, w, "PRAGMA quick_check")
}

// Check runs PRAGMA integrity_check, the full consistency check of the file
// (every B-tree, every index against its table), on a reader connection. It
// returns an error wrapping ErrCorrupt if any problem is found. It reads the
// whole file and may take long on a large database; writes go on meanwhile.
func (db *DB) Check(ctx context.Context) error {
	if db.eng != nil {
		return fmt.Errorf("%s: check: not a SQLite file: the engine checks its own data", db.eng.Name)
	}
	if err := runCheck(ctx, db.rdb, "PRAGMA integrity_check"); err != nil {
		return fmt.Errorf("sqlite: check: %w", err)
	}
	return nil
}

// runCheck runs a check pragma and turns anything but a single "ok" into an
// ErrCorrupt error naming the first problems.
func runCheck(ctx context.Context, db *sql.DB, pragma string) error {
	rows, err := db.QueryContext(ctx, pragma)
	if err != nil {
		return fmt.Errorf("%s: %w", strings.ToLower(pragma), classify(err))
	}
	defer rows.Close()
	var problems []string
	n := 0
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("%s: %w", strings.ToLower(pragma), classify(err))
		}
		if line == "ok" {
			continue
		}
		n++
		if len(problems) < maxCheckLines {
			problems = append(problems, strings.ReplaceAll(strings.TrimSpace(line), "\n", "; "))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", strings.ToLower(pragma), classify(err))
	}
	if n > 0 {
		return fmt.Errorf("%w: %s found %d problem(s): %s",
			ErrCorrupt, strings.ToLower(pragma), n, strings.Join(problems, "; "))
	}
	return nil
}
