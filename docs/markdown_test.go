// Package docs_test checks the Markdown of docs/ as a reader's renderer
// sees it: several engineers edit these files at once, and a lost line
// (a code fence) silently turns the rest of a document inside out.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// docs are the Markdown files checked, relative to this directory.
func docs(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.md", "adr/*.md", "../README.md", "../CHANGELOG.md"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 5 {
		t.Fatalf("found only %v", out)
	}
	return out
}

var fence = regexp.MustCompile("^\\s*(```|~~~)")

// headings returns the GitHub anchors of a document's headings (outside
// code blocks), and reports an unclosed code block.
func headings(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	inCode, opened := false, 0
	for i, line := range strings.Split(string(b), "\n") {
		if fence.MatchString(line) {
			inCode = !inCode
			opened = i + 1
			continue
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := anchor(text)
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	if inCode {
		t.Errorf("%s: the code block opened on line %d is never closed", path, opened)
	}
	return anchors
}

// anchor is GitHub's anchor of a heading: lower case, punctuation other
// than '-' and '_' dropped, spaces as '-'.
func anchor(text string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

var link = regexp.MustCompile(`\]\(([^)\s#]*\.md)?#([^)\s]+)\)`)

// TestMarkdownFencesAndAnchors: every code block is closed, and every
// link to a heading (#anchor, or file.md#anchor between these documents)
// names one that exists.
func TestMarkdownFencesAndAnchors(t *testing.T) {
	t.Parallel()
	files := docs(t)
	anchors := map[string]map[string]bool{}
	for _, f := range files {
		anchors[filepath.Clean(f)] = headings(t, f)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inCode := false
		for i, line := range strings.Split(string(b), "\n") {
			if fence.MatchString(line) {
				inCode = !inCode
				continue
			}
			if inCode {
				continue
			}
			for _, m := range link.FindAllStringSubmatch(line, -1) {
				target := filepath.Clean(f)
				if m[1] != "" {
					target = filepath.Clean(filepath.Join(filepath.Dir(f), m[1]))
				}
				as, ok := anchors[target]
				if !ok {
					continue // a document outside the checked set
				}
				if !as[m[2]] {
					t.Errorf("%s:%d: link to %s#%s: no such heading", f, i+1, target, m[2])
				}
			}
		}
	}
}
