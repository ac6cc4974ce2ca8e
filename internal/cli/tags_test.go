package cli_test

import (
	"strings"
	"testing"
)

// TestTagsImport: `parley tags import` checks the whole file before it
// changes anything, reports unknown users by line, creates users with
// --create-users, and changes nothing when run again.
func TestTagsImport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustRun(t, "user", "add", "alice", "--data-dir", dir)
	mustRun(t, "user", "add", "bob", "--data-dir", dir)

	bad := writeFile(t, "bad.txt", "alice region=beijing\nbob region\n# fine\ncarol 1key=x\ndave\nerin re/gion=x\n")
	_, _, err := run(t, "tags", "import", bad, "--data-dir", dir)
	if err == nil {
		t.Fatal("a file with bad lines was imported")
	}
	for _, want := range []string{"4 bad lines, nothing imported", "line 2:", "line 4:", "line 5:", "line 6:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if out := mustRun(t, "tags", "show", "alice", "--data-dir", dir); out != "" {
		t.Fatalf("alice was tagged from a bad file: %q", out)
	}

	file := writeFile(t, "tags.txt", "# users and their tags\nalice region=beijing plan=pro\n\nbob\tregion=hangzhou   # a comment\ncarol region=beijing\n")
	out, _, err := run(t, "tags", "import", file, "--data-dir", dir)
	if err == nil || !strings.Contains(out, "line 5: carol: no such user") || !strings.Contains(out, "2 users changed, 0 unchanged, 0 created, 1 failed") {
		t.Fatalf("import with an unknown user: %v\n%s", err, out)
	}
	if got := mustRun(t, "tags", "show", "alice", "--data-dir", dir); got != "plan=pro\nregion=beijing\n" {
		t.Fatalf("alice's tags: %q", got)
	}
	out = mustRun(t, "tags", "import", file, "--create-users", "--data-dir", dir)
	if !strings.Contains(out, "3 lines: 1 users changed, 2 unchanged, 1 created, 0 failed") {
		t.Fatalf("second import: %s", out)
	}
	out = mustRun(t, "tags", "import", file, "--create-users", "--data-dir", dir)
	if !strings.Contains(out, "0 users changed, 3 unchanged, 0 created, 0 failed") {
		t.Fatalf("the same import again: %s", out)
	}
	mustRun(t, "tags", "import", writeFile(t, "d.txt", "alice plan=\n"), "--data-dir", dir)
	if got := mustRun(t, "tags", "show", "alice", "--data-dir", dir); got != "region=beijing\n" {
		t.Fatalf("alice's tags after plan= : %q", got)
	}
	out = mustRun(t, "tags", "import", writeFile(t, "r.txt", "bob vip=yes\n"), "--replace", "--data-dir", dir)
	if got := mustRun(t, "tags", "show", "bob", "--data-dir", dir); got != "vip=yes\n" || !strings.Contains(out, "1 users changed") {
		t.Fatalf("after --replace: bob's tags %q (%s)", got, out)
	}
}
