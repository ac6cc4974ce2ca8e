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

// Restore replaces the configured store with a backup taken by Backup. The
// server must be stopped. An existing database is only replaced with force.
func Restore(ctx context.Context, cfg config.Config, backup string, force bool) error {
	if cfg.Store.Driver != "sqlite" {
		return fmt.Errorf("restore supports the sqlite store; use your database's own tools for %s", cfg.Store.Driver)
	}
	target := cfg.SQLitePath()
	if _, err := os.Stat(target); err == nil && !force {
		return fmt.Errorf("%s exists: stop the server and pass --force to replace it", target)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return sqlite.Restore(ctx, backup, target)
}
