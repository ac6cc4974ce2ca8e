package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

func userListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users: id, display name, status, creation and last time online",
		Args:  cobra.NoArgs,
	}
	l := bindLoader(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return withCore(l, cmd.ErrOrStderr(), func(ctx context.Context, c *core.Core, _ config.Config) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tDISPLAY NAME\tSTATUS\tCREATED\tLAST SEEN")
			after := ""
			for {
				us, err := c.ListUsers(ctx, after, 1000)
				if err != nil {
					return err
				}
				for _, u := range us {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.ID, orDash(u.DisplayName), userStatus(u), msTime(u.CreatedAt), msTime(u.LastSeen))
				}
				if len(us) < 1000 {
					return tw.Flush()
				}
				after = us[len(us)-1].ID
			}
		})
	}
	return cmd
}

func userStatus(u protocol.User) string {
	switch {
	case u.Deleted:
		return "deleted"
	case u.Disabled:
		return "disabled"
	}
	return "active"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// msTime renders Unix milliseconds in UTC to the minute; "-" for none.
func msTime(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04Z")
}

func userPasswdCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password (signed-in devices stay signed in)",
		Args:  cobra.ExactArgs(1),
	}
	l := bindLoader(cmd)
	var password string
	var fromStdin bool
	cmd.Flags().StringVar(&password, "password", "", "the new password (visible in the process list: prefer --password-stdin)")
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the new password from the first line of standard input")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		switch {
		case fromStdin && password != "":
			return errors.New("give --password or --password-stdin, not both")
		case fromStdin:
			var err error
			if password, err = readPassword(cmd.InOrStdin()); err != nil {
				return err
			}
		case password == "":
			return errors.New("give the new password with --password-stdin or --password")
		}
		// The store is the truth for passwords: a running server checks
		// the next login against the new hash, so no lock is needed.
		return withCore(l, cmd.ErrOrStderr(), func(ctx context.Context, c *core.Core, _ config.Config) error {
			if err := c.SetPassword(ctx, args[0], password); err != nil {
				return userError("passwd", args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed\n", args[0])
			return nil
		})
	}
	return cmd
}

func userDisableCmd(disable bool) *cobra.Command {
	use, short, done := "enable NAME", "Enable a disabled user again", "enabled"
	if disable {
		use, short, done = "disable NAME", "Disable a user: sign out every device and close its connections; logins are refused until enable", "disabled"
	}
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(1)}
	l := bindLoader(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		user := args[0]
		how, err := changeUser(l, cmd, "POST", "/v1/admin/users/"+url.PathEscape(user)+"/"+strings.Fields(use)[0],
			func(ctx context.Context, c *core.Core) error { return c.SetDisabled(ctx, user, disable) })
		if err != nil {
			return userError(strings.Fields(use)[0], user, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s%s\n", done, user, how)
		return nil
	}
	return cmd
}

func userDeleteCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME --yes",
		Short: "Erase a user's account for good (as DELETE /v1/admin/users/NAME: the id stays taken)",
		Args:  cobra.ExactArgs(1),
	}
	l := bindLoader(cmd)
	var yes bool
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm: the account, its sessions, devices and message bodies are erased, which cannot be undone")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		user := args[0]
		if !yes {
			return fmt.Errorf("delete %s erases the account and the bodies of its messages, which cannot be undone: pass --yes", user)
		}
		how, err := changeUser(l, cmd, "DELETE", "/v1/admin/users/"+url.PathEscape(user),
			func(ctx context.Context, c *core.Core) error { return c.DeleteUser(ctx, user) })
		if err != nil {
			return userError("delete", user, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted %s%s\n", user, how)
		return nil
	}
	return cmd
}

// userError is the error of a user command: "no such user" for an
// unknown one, whether the CLI or the running server found out.
func userError(verb, user string, err error) error {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		pe = core.ToProtocol(err) // not_found: store.ErrNotFound
	}
	if pe.Code == protocol.CodeNotFound {
		return fmt.Errorf("%s %s: no such user", verb, user)
	}
	return fmt.Errorf("%s %s: %w", verb, user, err)
}

// changeUser makes a change to a user that a running server must take
// part in (it closes the user's connections and drops what it cached).
// With no server on the data directory, local makes it on a core of the
// CLI's own, holding the data directory's lock meanwhile so that no server
// starts under it; with one, the request goes to that server's admin API
// through its admin socket (app.LocalAdmin). how says which it was.
func changeUser(l *loader, cmd *cobra.Command, method, path string, local func(context.Context, *core.Core) error) (how string, err error) {
	cfg, err := l.load()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		lock, err := app.LockDataDir(cfg.DataDir, strings.TrimPrefix(cmd.CommandPath(), "parley "))
		if err == nil {
			defer lock.Release()
			return "", runCore(ctx, cfg, cmd.ErrOrStderr(), func(ctx context.Context, c *core.Core, _ config.Config) error { return local(ctx, c) })
		}
		var le *app.LockedError
		if !errors.As(err, &le) || le.Holder.Command != "serve" {
			return "", err
		}
		_, err = app.LocalAdmin(ctx, cfg.DataDir, method, path, nil)
		if err == nil {
			return fmt.Sprintf(" (through the running server, pid %d)", le.Holder.PID), nil
		}
		if !errors.Is(err, app.ErrNoAdminSocket) {
			return "", err
		}
		if le.Holder.HTTP != "" || ctx.Err() != nil {
			// It has started and has no socket (or never got going).
			return "", fmt.Errorf("%w, which does not answer on its admin socket (%v): stop it, or use its admin API (%s %s)", le, err, method, path)
		}
		// The server is still starting: its socket comes before it says
		// where it listens.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
