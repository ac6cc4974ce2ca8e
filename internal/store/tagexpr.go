package store

import (
	"slices"
	"strings"
)

// Operators of a TagExpr.
const (
	// TagTerm: the user carries the tag Key=Value.
	TagTerm = "tag"
	// TagAnd: every one of Args holds (two or more).
	TagAnd = "and"
	// TagOr: at least one of Args holds (two or more).
	TagOr = "or"
	// TagNot: Args[0] does not hold.
	TagNot = "not"
	// TagAll: every user.
	TagAll = "all"
)

// TagExpr is an expression over a user's tags, the audience of a system
// notice: a tree of TagTerm leaves under TagAnd, TagOr and TagNot, or
// TagAll alone. The core parses it from text (core.ParseTagExpr) and
// checks its shape; backends evaluate it, in their query language or with
// Match, and keep it as JSON (its field names are part of what is
// stored).
type TagExpr struct {
	Op    string    `json:"op"`
	Key   string    `json:"k,omitempty"`
	Value string    `json:"v,omitempty"`
	Args  []TagExpr `json:"a,omitempty"`
}

// Match reports whether a user with tags (key → value) is in e's audience.
func (e TagExpr) Match(tags map[string]string) bool {
	switch e.Op {
	case TagAll:
		return true
	case TagTerm:
		v, ok := tags[e.Key]
		return ok && v == e.Value
	case TagNot:
		return len(e.Args) == 1 && !e.Args[0].Match(tags)
	case TagAnd:
		for _, a := range e.Args {
			if !a.Match(tags) {
				return false
			}
		}
		return len(e.Args) > 0
	case TagOr:
		for _, a := range e.Args {
			if a.Match(tags) {
				return true
			}
		}
	}
	return false
}

// Required returns a term that every user e matches carries, if there is
// one (a term, or a term of a conjunction): a backend can start from the
// users with that tag instead of all users.
func (e TagExpr) Required() (TagExpr, bool) {
	switch e.Op {
	case TagTerm:
		return e, true
	case TagAnd:
		for _, a := range e.Args {
			if r, ok := a.Required(); ok {
				return r, true
			}
		}
	}
	return TagExpr{}, false
}

// Values returns the tag values of e's terms that are not under a TagNot,
// sorted and without repeats: the values a notice to e is addressed to
// (MQTT's IMS/System/<value> topics).
func (e TagExpr) Values() []string {
	var out []string
	var walk func(x TagExpr)
	walk = func(x TagExpr) {
		switch x.Op {
		case TagTerm:
			out = append(out, x.Value)
		case TagAnd, TagOr:
			for _, a := range x.Args {
				walk(a)
			}
		}
	}
	walk(e)
	slices.Sort(out)
	return slices.Compact(out)
}

// String is e in the text form the parser reads back to e: terms as
// key=value, the operators as AND, OR and NOT, parentheses where the
// precedence (NOT, then AND, then OR) needs them, and TagAll as "*".
func (e TagExpr) String() string {
	var b strings.Builder
	e.write(&b, 0)
	return b.String()
}

// write writes e where an operator of precedence prec surrounds it
// (0: none, 1: OR, 2: AND, 3: NOT).
func (e TagExpr) write(b *strings.Builder, prec int) {
	switch e.Op {
	case TagAll:
		b.WriteString("*")
	case TagTerm:
		b.WriteString(e.Key)
		b.WriteByte('=')
		b.WriteString(e.Value)
	case TagNot:
		b.WriteString("NOT ")
		if len(e.Args) == 1 {
			e.Args[0].write(b, 3)
		}
	case TagAnd, TagOr:
		own, sep := 2, " AND "
		if e.Op == TagOr {
			own, sep = 1, " OR "
		}
		if prec > own {
			b.WriteByte('(')
		}
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(sep)
			}
			a.write(b, own)
		}
		if prec > own {
			b.WriteByte(')')
		}
	}
}
