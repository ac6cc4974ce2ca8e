package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/app"
)

func checkCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run a full integrity check of the store (works while the server runs)",
		Args:  cobra.NoArgs,
	}
	l := bindLoader(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := l.load()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := app.Check(ctx, cfg, quietLogger(cmd)); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), "store ok")
		return nil
	}
	return cmd
}

func backupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the store to FILE (works while the server runs)",
		Args:  cobra.ExactArgs(1),
	}
	l := bindLoader(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := l.load()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := app.Backup(ctx, cfg, args[0], quietLogger(cmd)); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "backup written to %s\n", args[0])
		return nil
	}
	return cmd
}

func restoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the store with a backup (stop the server first)",
		Args:  cobra.ExactArgs(1),
	}
	l := bindLoader(cmd)
	var force bool
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing database")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := l.load()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := app.Restore(ctx, cfg, args[0], force); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s\n", args[0], cfg.SQLitePath())
		return nil
	}
	return cmd
}

func quietLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
