package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
)

// operatorCmd is a command that loads the configuration and runs op with
// an hour's deadline; op returns the line to print on success.
func operatorCmd(use, short string, args cobra.PositionalArgs,
	op func(ctx context.Context, cmd *cobra.Command, cfg config.Config, args []string) (string, error)) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: args}
	l := bindLoader(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := l.load()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		done, err := op(ctx, cmd, cfg, args)
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), done)
		return nil
	}
	return cmd
}

func checkCmd() *cobra.Command {
	return operatorCmd("check", "Run a full integrity check of the store (works while the server runs)", cobra.NoArgs,
		func(ctx context.Context, cmd *cobra.Command, cfg config.Config, _ []string) (string, error) {
			return "store ok", app.Check(ctx, cfg, quietLogger(cmd))
		})
}

func backupCmd() *cobra.Command {
	return operatorCmd("backup FILE", "Write a consistent copy of the store to FILE (works while the server runs)", cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, cfg config.Config, args []string) (string, error) {
			return "backup written to " + args[0], app.Backup(ctx, cfg, args[0], quietLogger(cmd))
		})
}

func restoreCmd() *cobra.Command {
	var force bool
	cmd := operatorCmd("restore FILE", "Replace the store with a backup (stop the server first)", cobra.ExactArgs(1),
		func(ctx context.Context, cmd *cobra.Command, cfg config.Config, args []string) (string, error) {
			return fmt.Sprintf("restored %s into %s", args[0], cfg.SQLitePath()), app.Restore(ctx, cfg, args[0], force)
		})
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing database")
	return cmd
}

func quietLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}
