// Package jsonlimit checks a JSON document before it is decoded: the
// nesting depth, so a deeply nested frame is refused without growing the
// decoder's stack (BAD_INPUTS J2), and duplicated top-level keys, so a
// field cannot mean one value to one reader and another to the next
// (BAD_INPUTS J3). It is shared by the gateways that take JSON; it is
// stateless and safe for concurrent use.
package jsonlimit

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// ErrTooDeep: the document nests objects and arrays deeper than allowed.
var ErrTooDeep = errors.New("JSON nested too deeply")

// DuplicateKeyError: the top-level object names one field more than once.
type DuplicateKeyError struct {
	// Field is the field as the caller spelled it in Check's fields.
	Field string
}

func (e *DuplicateKeyError) Error() string {
	return "duplicate key " + strconv.Quote(e.Field)
}

// CheckDepth scans data once and returns ErrTooDeep if objects and arrays
// nest deeper than max. It does not validate the JSON otherwise; brackets
// inside strings (with escapes) are not counted.
func CheckDepth(data []byte, max int) error {
	return Check(data, max, nil)
}

// MaxFields is the most fields Check can watch for duplicates.
const MaxFields = 64

// Check is CheckDepth that also refuses a top-level object naming one of
// fields twice. A key names a field the way encoding/json binds keys to
// struct fields: exactly or case-insensitively (Unicode simple folding, so
// "TO", "t\u006f" and "to" all name "to"); encoding/json itself would keep
// the last of them. Keys that name none of fields are not checked (the
// decoder ignores them), nor are keys of nested objects. It returns
// ErrTooDeep or a *DuplicateKeyError (the depth is checked first), and nil
// otherwise; like CheckDepth it does not validate the JSON. fields beyond
// the first MaxFields are ignored.
func Check(data []byte, max int, fields []string) error {
	if len(fields) > MaxFields {
		fields = fields[:MaxFields]
	}
	var dup error
	var seen uint64 // bit i: fields[i] was named
	depth := 0
	inString := false
	escaped, hasEscape := false, false
	object := false    // the top-level value is an object
	expectKey := false // in the top-level object, the next string is a key
	keyStart := -1     // index of the opening quote of the key being read
	for i, b := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped, hasEscape = true, true
			case b == '"':
				inString = false
				if keyStart >= 0 && dup == nil && len(fields) > 0 {
					if f := fieldIndex(data[keyStart:i+1], hasEscape, fields); f >= 0 {
						if seen&(1<<f) != 0 {
							dup = &DuplicateKeyError{Field: fields[f]}
						}
						seen |= 1 << f
					}
				}
				keyStart = -1
			}
			continue
		}
		switch b {
		case '"':
			inString, hasEscape = true, false
			if depth == 1 && expectKey {
				keyStart = i
				expectKey = false
			}
		case '{', '[':
			depth++
			if depth > max {
				return ErrTooDeep
			}
			if depth == 1 {
				object = b == '{'
			}
			expectKey = depth == 1 && object
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1 && object
		}
	}
	return dup
}

// fieldIndex returns the index of the field the quoted key names, or -1.
func fieldIndex(quoted []byte, hasEscape bool, fields []string) int {
	var key string
	if hasEscape {
		if json.Unmarshal(quoted, &key) != nil {
			return -1 // not a valid string: decoding fails anyway
		}
	} else {
		key = string(quoted[1 : len(quoted)-1])
	}
	for i, f := range fields {
		if key == f {
			return i
		}
	}
	for i, f := range fields {
		if strings.EqualFold(key, f) {
			return i
		}
	}
	return -1
}

// fieldCache holds FieldsOf's answer per type.
var fieldCache sync.Map // reflect.Type → []string

// FieldsOf returns the JSON names of the fields of the struct v points to
// (or is), as encoding/json binds them, for Check; nil for any other
// type. Embedded structs are not expanded.
func FieldsOf(v any) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if f, ok := fieldCache.Load(t); ok {
		return f.([]string)
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	fieldCache.Store(t, names)
	return names
}
