package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/app"
)

// errForced is returned when a second signal cut the shutdown short.
var errForced = errors.New("shutdown forced by a second signal")

func serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server (embedded SQLite under ./data unless configured otherwise)",
		Args:  cobra.NoArgs,
	}
	l := bindServeLoader(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := l.load()
		if err != nil {
			return err
		}
		log := newLogger(cmd.ErrOrStderr(), cfg)
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
		defer signal.Stop(sigs)

		a, err := app.Start(context.Background(), cfg, log)
		if err != nil {
			return err
		}
		a.Banner(cmd.OutOrStdout())
		sig := <-sigs
		log.Info("signal received, shutting down", "signal", sig.String())
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeouts.ShutdownGrace)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- a.Shutdown(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			log.Info("stopped")
			return nil
		case sig := <-sigs:
			log.Warn("second signal, exiting now", "signal", sig.String())
			return errForced
		}
	}
	return cmd
}
