package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
)

// New returns the root command.
func New(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "parley",
		Short:         "Parley: a durable instant-messaging server (WebSocket, HTTP, MQTT)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(), configCmd(), userCmd(), tokenCmd(), checkCmd(), backupCmd(), restoreCmd(), versionCmd())
	root.AddCommand(tagsCmd()) // tags.go
	return root
}

// loader binds --config and the operator flags to a command and loads the
// effective configuration.
type loader struct {
	path  string
	flags *config.Flags
	fs    *pflag.FlagSet
}

// bindLoader binds --config and --data-dir, the flags of the commands that
// work on the data directory without serving.
func bindLoader(cmd *cobra.Command) *loader {
	l := &loader{fs: cmd.Flags()}
	cmd.Flags().StringVar(&l.path, "config", "", "config file (YAML); also $"+config.EnvConfigFile)
	l.flags = config.BindDataDirFlag(cmd.Flags())
	return l
}

// bindServeLoader binds --config and every operator flag (serve's).
func bindServeLoader(cmd *cobra.Command) *loader {
	l := &loader{fs: cmd.Flags()}
	cmd.Flags().StringVar(&l.path, "config", "", "config file (YAML); also $"+config.EnvConfigFile)
	l.flags = config.BindFlags(cmd.Flags())
	return l
}

func (l *loader) load() (config.Config, error) {
	path := l.path
	if path == "" {
		path = os.Getenv(config.EnvConfigFile)
	}
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		return cfg, err
	}
	l.flags.Apply(&cfg)
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the commit it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "parley", app.BuildInfo())
			return nil
		},
	}
}
