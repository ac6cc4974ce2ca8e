// Package jsonlimit checks the nesting depth of a JSON document before it
// is decoded, so a deeply nested frame is refused without growing the
// decoder's stack (BAD_INPUTS J2). It is shared by the gateways that take
// JSON; it is stateless and safe for concurrent use.
package jsonlimit

import "errors"

// ErrTooDeep: the document nests objects and arrays deeper than allowed.
var ErrTooDeep = errors.New("JSON nested too deeply")

// CheckDepth scans data once and returns ErrTooDeep if objects and arrays
// nest deeper than max. It does not validate the JSON otherwise; brackets
// inside strings (with escapes) are not counted.
func CheckDepth(data []byte, max int) error {
	depth := 0
	inString := false
	escaped := false
	for _, b := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > max {
				return ErrTooDeep
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}
