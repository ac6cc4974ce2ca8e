package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the database to path (which must not
// exist) while the database stays in use: SQLite's VACUUM INTO reads one
// snapshot, so concurrent commits neither block it nor leak into it. The
// copy is synced to disk before Backup returns.
func (db *DB) Backup(ctx context.Context, path string) error {
	if db.eng != nil {
		return fmt.Errorf("%s: backup: not a SQLite file: use the engine's own backup tools", db.eng.Name)
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("sqlite: backup: %s exists already", path)
	}
	// A connection of its own: the readers are read-only (VACUUM INTO
	// writes the copy), and the writer must stay free for commits.
	conn := sql.OpenDB(newConnector(db.path, connConfig{writer: true, busyTimeout: defaultBusyTimeout}))
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", path, classify(err))
	}
	if err := syncFile(path); err != nil {
		return fmt.Errorf("sqlite: backup: %w", err)
	}
	return nil
}

// Restore replaces the database at target with the backup at backup, after
// checking the backup's integrity and schema. The server must not be
// running on target. The old files are replaced atomically: target is
// either the old database or the backup, never a mix.
func Restore(ctx context.Context, backup, target string) error {
	b, err := Open(backup, Options{})
	if err != nil {
		return fmt.Errorf("sqlite: restore: backup %s: %w", backup, err)
	}
	err = b.Check(ctx)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sqlite: restore: backup %s: %w", backup, err)
	}
	tmp := target + ".restore"
	if err := copyFile(backup, tmp); err != nil {
		return fmt.Errorf("sqlite: restore: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(target + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			os.Remove(tmp)
			return fmt.Errorf("sqlite: restore: remove %s: %w", target+suffix, err)
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sqlite: restore: %w", err)
	}
	return syncDir(filepath.Dir(target))
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
