package core

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/store"
)

// Limits of tags and tag expressions (docs/operations.md, "Tags and system
// notices").
const (
	// MaxTagKey is the longest tag key in bytes: ASCII letters, digits,
	// '_', '-' and '.', starting with a letter.
	MaxTagKey = 32
	// MaxTagValue is the longest tag value in bytes: letters and digits
	// of any script, and '_', '-', '.', ':' and '@'.
	MaxTagValue = 64
	// MaxTagExpr is the longest tag expression in bytes.
	MaxTagExpr = 1024
	// MaxTagTerms is the most key=value terms of one expression.
	MaxTagTerms = 16
	// maxTagDepth bounds the nesting of parentheses and NOTs.
	maxTagDepth = 8
)

// ValidateTagKey reports why k cannot be a tag key, or nil.
func ValidateTagKey(k string) error {
	if k == "" || len(k) > MaxTagKey {
		return fmt.Errorf("a tag key is 1–%d characters", MaxTagKey)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.')) {
			return fmt.Errorf("tag key %q: ASCII letters, digits, '_', '-' and '.', starting with a letter", k)
		}
	}
	if isKeyword(k) {
		return fmt.Errorf("tag key %q is reserved (AND, OR, NOT)", k)
	}
	return nil
}

// ValidateTagValue reports why v cannot be a tag value, or nil.
func ValidateTagValue(v string) error {
	if v == "" || len(v) > MaxTagValue {
		return fmt.Errorf("a tag value is 1–%d bytes", MaxTagValue)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("tag value %q is not UTF-8", v)
	}
	for _, r := range v {
		if !valueRune(r) {
			return fmt.Errorf("tag value %q: letters, digits, '_', '-', '.', ':' and '@' only, not %q", v, r)
		}
	}
	return nil
}

// valueRune reports whether r may be part of a tag value: a value is
// safe as an MQTT topic level and in an expression without quoting.
func valueRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || strings.ContainsRune("_-.:@", r)
}

func isKeyword(w string) bool {
	return strings.EqualFold(w, "and") || strings.EqualFold(w, "or") || strings.EqualFold(w, "not")
}

// TagExprError is a tag expression that does not parse: Pos is the
// 1-based position, in bytes, where it goes wrong.
type TagExprError struct {
	Pos int
	Msg string
}

func (e *TagExprError) Error() string { return fmt.Sprintf("at %d: %s", e.Pos, e.Msg) }

// Unwrap makes errors.Is(err, ErrBadRequest) true.
func (e *TagExprError) Unwrap() error { return ErrBadRequest }

// ParseTagExpr parses the audience of a system notice:
//
//	expr  = "*" | or
//	or    = and { "OR" and }
//	and   = unary { "AND" unary }
//	unary = "NOT" unary | "(" or ")" | key "=" value
//
// "*" alone is every user; AND, OR and NOT are case-insensitive and bind
// in the order NOT, AND, OR; keys and values follow ValidateTagKey and
// ValidateTagValue. Spaces separate tokens and are otherwise ignored. An
// error is a *TagExprError naming the position.
func ParseTagExpr(s string) (store.TagExpr, error) {
	if len(s) > MaxTagExpr {
		return store.TagExpr{}, &TagExprError{Pos: MaxTagExpr + 1, Msg: fmt.Sprintf("longer than %d bytes", MaxTagExpr)}
	}
	if !utf8.ValidString(s) {
		return store.TagExpr{}, &TagExprError{Pos: 1, Msg: "not UTF-8"}
	}
	p := &tagParser{s: s}
	p.next()
	if p.tok.kind == tokEOF {
		return store.TagExpr{}, &TagExprError{Pos: 1, Msg: `empty: give key=value terms, or "*" for every user`}
	}
	if p.tok.kind == tokStar {
		p.next()
		if p.tok.kind != tokEOF {
			return store.TagExpr{}, p.fail(`"*" (every user) stands alone`)
		}
		return store.TagExpr{Op: store.TagAll}, nil
	}
	e, err := p.or(0)
	if err != nil {
		return store.TagExpr{}, err
	}
	if p.tok.kind != tokEOF {
		return store.TagExpr{}, p.fail("expected AND, OR or the end, found " + p.tok.describe())
	}
	return e, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokEq
	tokLParen
	tokRParen
	tokStar
	tokBad
)

type token struct {
	kind tokKind
	text string
	pos  int // 1-based
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "the end"
	case tokWord:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

type tagParser struct {
	s     string
	i     int
	tok   token
	terms int
}

// next reads the next token; after a key and "=", the value is one token
// of value characters.
func (p *tagParser) next() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
	start := p.i
	if p.i >= len(p.s) {
		p.tok = token{kind: tokEOF, pos: len(p.s) + 1}
		return
	}
	single := map[byte]tokKind{'=': tokEq, '(': tokLParen, ')': tokRParen, '*': tokStar}
	if k, ok := single[p.s[p.i]]; ok {
		p.i++
		p.tok = token{kind: k, text: p.s[start:p.i], pos: start + 1}
		return
	}
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		if !valueRune(r) {
			break
		}
		p.i += n
	}
	if p.i == start {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		p.i += n
		p.tok = token{kind: tokBad, text: string(r), pos: start + 1}
		return
	}
	p.tok = token{kind: tokWord, text: p.s[start:p.i], pos: start + 1}
}

func (p *tagParser) fail(msg string) error { return &TagExprError{Pos: p.tok.pos, Msg: msg} }

func (p *tagParser) keyword(w string) bool {
	return p.tok.kind == tokWord && strings.EqualFold(p.tok.text, w)
}

func (p *tagParser) or(depth int) (store.TagExpr, error) {
	e, err := p.and(depth)
	if err != nil {
		return e, err
	}
	args := []store.TagExpr{e}
	for p.keyword("or") {
		p.next()
		e, err := p.and(depth)
		if err != nil {
			return e, err
		}
		args = append(args, e)
	}
	if len(args) == 1 {
		return args[0], nil
	}
	return store.TagExpr{Op: store.TagOr, Args: args}, nil
}

func (p *tagParser) and(depth int) (store.TagExpr, error) {
	e, err := p.unary(depth)
	if err != nil {
		return e, err
	}
	args := []store.TagExpr{e}
	for p.keyword("and") {
		p.next()
		e, err := p.unary(depth)
		if err != nil {
			return e, err
		}
		args = append(args, e)
	}
	if len(args) == 1 {
		return args[0], nil
	}
	return store.TagExpr{Op: store.TagAnd, Args: args}, nil
}

func (p *tagParser) unary(depth int) (store.TagExpr, error) {
	if depth >= maxTagDepth {
		return store.TagExpr{}, p.fail(fmt.Sprintf("nested deeper than %d", maxTagDepth))
	}
	switch {
	case p.keyword("not"):
		p.next()
		e, err := p.unary(depth + 1)
		if err != nil {
			return e, err
		}
		return store.TagExpr{Op: store.TagNot, Args: []store.TagExpr{e}}, nil
	case p.tok.kind == tokLParen:
		p.next()
		e, err := p.or(depth + 1)
		if err != nil {
			return e, err
		}
		if p.tok.kind != tokRParen {
			return e, p.fail(`expected ")", found ` + p.tok.describe())
		}
		p.next()
		return e, nil
	case p.tok.kind == tokStar:
		return store.TagExpr{}, p.fail(`"*" (every user) stands alone`)
	case p.tok.kind != tokWord || isKeyword(p.tok.text):
		return store.TagExpr{}, p.fail("expected key=value, NOT or \"(\", found " + p.tok.describe())
	}
	key := p.tok
	if err := ValidateTagKey(key.text); err != nil {
		return store.TagExpr{}, p.fail(err.Error())
	}
	p.next()
	if p.tok.kind != tokEq {
		return store.TagExpr{}, p.fail(fmt.Sprintf("expected \"=\" after %q, found %s", key.text, p.tok.describe()))
	}
	p.next()
	if p.tok.kind != tokWord {
		return store.TagExpr{}, p.fail(fmt.Sprintf("expected the value of %q, found %s", key.text, p.tok.describe()))
	}
	if err := ValidateTagValue(p.tok.text); err != nil {
		return store.TagExpr{}, p.fail(err.Error())
	}
	if p.terms++; p.terms > MaxTagTerms {
		return store.TagExpr{}, &TagExprError{Pos: key.pos, Msg: fmt.Sprintf("more than %d terms", MaxTagTerms)}
	}
	e := store.TagExpr{Op: store.TagTerm, Key: key.text, Value: p.tok.text}
	p.next()
	return e, nil
}
