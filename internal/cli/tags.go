package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// maxLineErrors is how many bad lines `tags import` lists before it only
// counts them.
const maxLineErrors = 20

func tagsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tags", Short: "Manage users' server-side tags, which system notices are addressed to (works while the server runs)"}
	cmd.AddCommand(tagsImportCmd(), tagsShowCmd())
	return cmd
}

func tagsImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Set the tags of many users from a file (- for standard input): lines of USER KEY=VALUE [KEY=VALUE...]",
		Long: `Set the tags of many users from FILE (- reads standard input). Each line names
a user and the tags to set, separated by spaces or tabs:

    alice region=beijing plan=pro
    bob   region=hangzhou
    carol plan=            # an empty value deletes the key

Blank lines and text after # are ignored. Keys are 1-32 ASCII letters, digits,
_ - . starting with a letter; values 1-64 bytes of letters and digits of any
script and _ - . : @. A user may appear on several lines; they apply in order.

The whole file is checked first: if a line is malformed, nothing is imported
and every bad line is listed. Then the users are changed in transactions of a
thousand; a user that does not exist (without --create-users) fails its line
alone. Importing the same file again changes nothing. Tags decide who gets a
system notice created after the change, never one created before.`,
		Args: cobra.ExactArgs(1),
	}
	l := bindLoader(cmd)
	var replace, create bool
	cmd.Flags().BoolVar(&replace, "replace", false, "each listed user's tags become exactly the line's (other keys are deleted)")
	cmd.Flags().BoolVar(&create, "create-users", false, "create the users that do not exist, without a password (as users of an external identity provider)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		in := cmd.InOrStdin()
		if args[0] != "-" {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		entries, lines, err := parseTagLines(in, replace)
		if err != nil {
			return err
		}
		cfg, err := l.load()
		if err != nil {
			return err
		}
		start := time.Now()
		// No deadline: a million users take a while; each part is its
		// own short transactions.
		return runCore(context.Background(), cfg, cmd.ErrOrStderr(), func(ctx context.Context, c *core.Core, _ config.Config) error {
			var total protocol.TagsImportResult
			for from := 0; from < len(entries); from += core.MaxTagsImport {
				part := entries[from:min(from+core.MaxTagsImport, len(entries))]
				res, err := c.ImportTags(ctx, protocol.TagsImport{Users: part, Replace: replace, CreateUsers: create})
				if err != nil {
					var fe *core.FieldError
					if errors.As(err, &fe) {
						return fmt.Errorf("%s: %s", args[0], fe.Reason)
					}
					return err
				}
				total.Changed += res.Changed
				total.Unchanged += res.Unchanged
				total.Created += res.Created
				for _, f := range res.Failed {
					f.Index = lines[from+f.Index]
					total.Failed = append(total.Failed, f)
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: %d lines: %d users changed, %d unchanged, %d created, %d failed (%s)\n",
				args[0], len(entries), total.Changed, total.Unchanged, total.Created, len(total.Failed), time.Since(start).Round(time.Millisecond))
			for i, f := range total.Failed {
				if i == maxLineErrors {
					fmt.Fprintf(out, "... and %d more\n", len(total.Failed)-i)
					break
				}
				fmt.Fprintf(out, "line %d: %s: %s\n", f.Index, f.User, f.Error)
			}
			if len(total.Failed) > 0 {
				return fmt.Errorf("%d lines failed", len(total.Failed))
			}
			return nil
		})
	}
	return cmd
}

// parseTagLines reads the lines of a tags file and checks them all,
// returning one entry per line with tags and the line number of each; an
// error lists the bad lines (at most maxLineErrors).
func parseTagLines(r io.Reader, replace bool) ([]protocol.UserTags, []int, error) {
	var entries []protocol.UserTags
	var lines []int
	var bad []string
	nbad := 0
	fail := func(n int, format string, args ...any) {
		nbad++
		if len(bad) < maxLineErrors {
			bad = append(bad, fmt.Sprintf("line %d: ", n)+fmt.Sprintf(format, args...))
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		user := fields[0]
		if err := core.ValidateUserID(user); err != nil {
			fail(n, "%q is not a user id: %v", user, err)
			continue
		}
		if len(fields) == 1 && !replace {
			fail(n, "no KEY=VALUE after the user %s", user)
			continue
		}
		tags := make(map[string]string, len(fields)-1)
		ok := true
		for _, f := range fields[1:] {
			k, v, found := strings.Cut(f, "=")
			switch err := core.ValidateTagKey(k); {
			case !found:
				fail(n, "%q is not KEY=VALUE", f)
			case err != nil:
				fail(n, "%v", err)
			case v != "" && core.ValidateTagValue(v) != nil:
				fail(n, "%v", core.ValidateTagValue(v))
			default:
				if _, dup := tags[k]; dup {
					fail(n, "key %s appears twice", k)
				} else {
					tags[k] = v
					continue
				}
			}
			ok = false
		}
		if ok {
			entries = append(entries, protocol.UserTags{User: user, Tags: tags})
			lines = append(lines, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	if nbad > 0 {
		more := ""
		if nbad > len(bad) {
			more = fmt.Sprintf("\n... and %d more", nbad-len(bad))
		}
		return nil, nil, fmt.Errorf("%d bad lines, nothing imported:\n%s%s", nbad, strings.Join(bad, "\n"), more)
	}
	return entries, lines, nil
}

func tagsShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show USER",
		Short: "Print a user's tags, one KEY=VALUE a line",
		Args:  cobra.ExactArgs(1),
	}
	l := bindLoader(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return withCore(l, cmd.ErrOrStderr(), func(ctx context.Context, c *core.Core, _ config.Config) error {
			t, err := c.UserTags(ctx, args[0])
			if err != nil {
				return userError("tags", args[0], err)
			}
			keys := make([]string, 0, len(t.Tags))
			for k := range t.Tags {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				fmt.Fprintf(cmd.OutOrStdout(), "%s=%s\n", k, t.Tags[k])
			}
			return nil
		})
	}
	return cmd
}
