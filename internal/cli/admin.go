package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/internal/core"
)

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Print or check configuration files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "default",
		Short: "Print a commented configuration file with every default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(config.DefaultYAML())
			return err
		},
	}, &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file as serve does (unknown keys and bad values are named)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(args[0], nil)
			if err != nil {
				return err
			}
			// What serve checks, not only the file's own rules.
			if err := app.Validate(cfg); err != nil {
				return fmt.Errorf("invalid configuration:\n%w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
			return nil
		},
	})
	return cmd
}

// withCore runs fn with a core on the configured store (not serving); it
// works while a server runs on the same data directory.
func withCore(l *loader, stderr io.Writer, fn func(context.Context, *core.Core, config.Config) error) error {
	cfg, err := l.load()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return runCore(ctx, cfg, stderr, fn)
}

// runCore runs fn with a core on cfg's store (not serving). The CLI
// reaches the data only through that core, as the gateways do.
func runCore(ctx context.Context, cfg config.Config, stderr io.Writer, fn func(context.Context, *core.Core, config.Config) error) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := app.OpenStore(cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	c, err := app.NewCore(cfg, st, log, nil)
	if err != nil {
		return err
	}
	return fn(ctx, c, cfg)
}

func userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users on the data directory (works while the server runs)"}
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a user",
		Args:  cobra.ExactArgs(1),
	}
	l := bindLoader(add)
	var password, display string
	var fromStdin bool
	add.Flags().StringVar(&password, "password", "", "the user's password (visible in the process list: prefer --password-stdin)")
	add.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input")
	add.Flags().StringVar(&display, "display-name", "", "display name")
	add.RunE = func(cmd *cobra.Command, args []string) error {
		if fromStdin {
			if password != "" {
				return errors.New("give --password or --password-stdin, not both")
			}
			var err error
			if password, err = readPassword(cmd.InOrStdin()); err != nil {
				return err
			}
		}
		return withCore(l, cmd.ErrOrStderr(), func(ctx context.Context, c *core.Core, _ config.Config) error {
			if _, err := c.CreateUser(ctx, args[0], password, display); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created user %s\n", args[0])
			return nil
		})
	}
	cmd.AddCommand(add, userListCmd(), userPasswdCmd(), userDisableCmd(true), userDisableCmd(false), userDeleteCmd())
	return cmd
}

// readPassword reads a password from the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func tokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token NAME",
		Short: "Print an access token for a user (opens a session for --device; lives auth.access_ttl, as a login's, unless --ttl)",
		Args:  cobra.ExactArgs(1),
	}
	l := bindLoader(cmd)
	var device string
	var ttl time.Duration
	cmd.Flags().StringVar(&device, "device", "cli", "device the token is bound to")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "lifetime of the access token (default auth.access_ttl, 15m unless configured: the lifetime of a login's)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return withCore(l, cmd.ErrOrStderr(), func(ctx context.Context, c *core.Core, cfg config.Config) error {
			if ttl == 0 {
				ttl = cfg.Auth.AccessTTL
			}
			if ttl < 0 {
				return errors.New("--ttl must be positive")
			}
			if err := core.ValidateDeviceID(device); err != nil {
				return err
			}
			u, err := c.User(ctx, args[0])
			if err != nil {
				return err
			}
			if u.Disabled {
				return fmt.Errorf("user %s is disabled", args[0])
			}
			t, err := c.OpenSession(ctx, args[0], device, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.AccessToken)
			return nil
		})
	}
	return cmd
}
