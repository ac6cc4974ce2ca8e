package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/sqlite"
)

// maintenance opens the configured store for an operator command.
func maintenance(cfg config.Config, log *slog.Logger) (store.Store, store.Maintenance, error) {
	st, err := OpenStore(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	m, ok := st.(store.Maintenance)
	if !ok {
		st.Close()
		return nil, nil, fmt.Errorf("store %s does not support checks and backups", cfg.Store.Driver)
	}
	return st, m, nil
}

// Check runs a full integrity check of the configured store. It works while
// the server runs.
func Check(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	st, m, err := maintenance(cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	return m.Check(ctx)
}

// Backup writes a consistent copy of the configured store to path; it works
// while the server runs.
func Backup(ctx context.Context, cfg config.Config, path string, log *slog.Logger) error {
	st, m, err := maintenance(cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	return m.Backup(ctx, path)
}

// Restore replaces the configured store with a backup taken by Backup. It
// refuses while a server runs on the data directory (it holds the lock,
// which Restore takes for its own duration, so no server starts on the
// half-restored directory either). An existing database is only replaced
// with force.
func Restore(ctx context.Context, cfg config.Config, backup string, force bool) error {
	if cfg.Store.Driver != "sqlite" {
		return fmt.Errorf("restore supports the sqlite store; use your database's own tools for %s", cfg.Store.Driver)
	}
	lock, err := LockDataDir(cfg.DataDir, "restore")
	if err != nil {
		if errors.Is(err, ErrDataDirInUse) {
			return fmt.Errorf("cannot restore: %w: stop it first (the server would keep writing to the replaced database)", err)
		}
		return err
	}
	defer lock.Release()
	target := cfg.SQLitePath()
	if _, err := os.Stat(target); err == nil && !force {
		return fmt.Errorf("%s exists: stop the server and pass --force to replace it", target)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return sqlite.Restore(ctx, backup, target)
}
