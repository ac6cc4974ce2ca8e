package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/store"
)

func TestParseTagExpr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string // want: the canonical form
		values   string
	}{
		{"region=beijing", "region=beijing", "beijing"},
		{"  region=beijing  ", "region=beijing", "beijing"},
		{"region=hangzhou AND plan=pro", "region=hangzhou AND plan=pro", "hangzhou pro"},
		{"region=hangzhou and plan=pro", "region=hangzhou AND plan=pro", "hangzhou pro"},
		{"region=beijing OR region=hangzhou", "region=beijing OR region=hangzhou", "beijing hangzhou"},
		{"a=1 OR b=2 AND c=3", "a=1 OR b=2 AND c=3", "1 2 3"},
		{"(a=1 OR b=2) AND c=3", "(a=1 OR b=2) AND c=3", "1 2 3"},
		{"NOT plan=pro", "NOT plan=pro", ""},
		{"not not plan=pro", "NOT NOT plan=pro", ""},
		{"region=beijing AND NOT plan=free", "region=beijing AND NOT plan=free", "beijing"},
		{"NOT (a=1 AND b=2)", "NOT (a=1 AND b=2)", ""},
		{"((a=1))", "a=1", "1"},
		{"*", "*", ""},
		{" * ", "*", ""},
		{"region=北京", "region=北京", "北京"},
		{"city=São.Paulo", "city=São.Paulo", "São.Paulo"},
		{"k=and", "k=and", "and"},
		{"Region=Beijing", "Region=Beijing", "Beijing"},
		{"email=ops@example.com", "email=ops@example.com", "ops@example.com"},
		{"a=1 AND b=2 AND c=3", "a=1 AND b=2 AND c=3", "1 2 3"},
	} {
		e, err := ParseTagExpr(c.in)
		if err != nil {
			t.Errorf("ParseTagExpr(%q): %v", c.in, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("ParseTagExpr(%q) = %s, want %s", c.in, got, c.want)
		}
		if got := strings.Join(e.Values(), " "); got != c.values {
			t.Errorf("values of %q = %q, want %q", c.in, got, c.values)
		}
		// The canonical form parses back to the same expression.
		again, err := ParseTagExpr(e.String())
		if err != nil || again.String() != e.String() {
			t.Errorf("canonical form %q does not parse back: %v %v", e.String(), again, err)
		}
	}
}

func TestParseTagExprErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		pos  int
		want string
	}{
		{"", 1, "empty"},
		{"   ", 1, "empty"},
		{"region", 7, `expected "=" after "region"`},
		{"region=", 8, `expected the value of "region"`},
		{"=beijing", 1, "expected key=value"},
		{"region=beijing AND", 19, "expected key=value"},
		{"region=beijing AND OR plan=pro", 20, "expected key=value"},
		{"region=beijing plan=pro", 16, "expected AND, OR or the end"},
		{"(region=beijing", 16, `expected ")"`},
		{"region=beijing)", 15, "expected AND, OR or the end"},
		{"* AND a=1", 3, "stands alone"},
		{"a=1 OR *", 8, "stands alone"},
		{"1region=x", 1, "starting with a letter"},
		{"and=x", 1, "expected key=value"},
		{"re/gion=x", 3, `"/"`},
		{"region=bei/jing", 11, "expected AND, OR or the end"},
		{"region=bei#jing", 11, "expected AND, OR or the end"},
		{"region='beijing'", 8, `expected the value of "region"`},
		{strings.Repeat("k", 33) + "=v", 1, "1–32 characters"},
		{"k=" + strings.Repeat("v", 65), 3, "1–64 bytes"},
		{strings.Repeat("NOT ", 9) + "a=1", 33, "nested deeper than 8"},
		{strings.Repeat("(", 9) + "a=1" + strings.Repeat(")", 9), 9, "nested deeper than 8"},
		{strings.TrimSuffix(strings.Repeat("a=1 OR ", 17), " OR "), 113, "more than 16 terms"},
		{strings.Repeat("a=1 OR ", 200) + "a=1", 1025, "longer than 1024 bytes"},
		{"a=1\xff", 1, "not UTF-8"},
	} {
		_, err := ParseTagExpr(c.in)
		var pe *TagExprError
		if !errors.As(err, &pe) {
			t.Errorf("ParseTagExpr(%q) = %v, want a *TagExprError", c.in, err)
			continue
		}
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("ParseTagExpr(%q): %v is not a bad request", c.in, err)
		}
		if pe.Pos != c.pos || !strings.Contains(pe.Msg, c.want) {
			t.Errorf("ParseTagExpr(%q) = at %d: %s; want at %d: ...%s...", c.in, pe.Pos, pe.Msg, c.pos, c.want)
		}
	}
}

func TestTagExprMatch(t *testing.T) {
	t.Parallel()
	tags := map[string]string{"region": "hangzhou", "plan": "pro"}
	for in, want := range map[string]bool{
		"region=hangzhou":                    true,
		"region=beijing":                     false,
		"region=hangzhou AND plan=pro":       true,
		"region=hangzhou AND plan=free":      false,
		"region=beijing OR plan=pro":         true,
		"NOT region=beijing":                 true,
		"NOT (region=hangzhou AND plan=pro)": false,
		"*":                                  true,
		"plan=hangzhou":                      false,
	} {
		e, err := ParseTagExpr(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Match(tags); got != want {
			t.Errorf("%s matches %v: %v, want %v", in, tags, got, want)
		}
	}
	if r, ok := mustParse(t, "a=1 AND (b=2 OR c=3)").Required(); !ok || r.String() != "a=1" {
		t.Errorf("required term %v %v", r, ok)
	}
	if _, ok := mustParse(t, "a=1 OR b=2").Required(); ok {
		t.Error("a disjunction has a required term")
	}
}

func mustParse(t *testing.T, s string) store.TagExpr {
	t.Helper()
	e, err := ParseTagExpr(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func FuzzParseTagExpr(f *testing.F) {
	for _, s := range []string{"region=beijing", "a=1 AND (b=2 OR NOT c=3)", "*", "(", "a=", "NOT NOT x=y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseTagExpr(s)
		if err != nil {
			var pe *TagExprError
			if !errors.As(err, &pe) || pe.Pos < 1 || pe.Pos > len(s)+1 && pe.Pos != MaxTagExpr+1 {
				t.Fatalf("ParseTagExpr(%q): %v", s, err)
			}
			return
		}
		again, err := ParseTagExpr(e.String())
		if err != nil || again.String() != e.String() {
			t.Fatalf("%q: canonical form %q does not parse back: %v", s, e.String(), err)
		}
	})
}
