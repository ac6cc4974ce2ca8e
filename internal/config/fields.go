package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

var (
	durationType    = reflect.TypeFor[time.Duration]()
	stringSliceType = reflect.TypeFor[[]string]()
)

// field is one key of the configuration, found by walking Config's struct
// tags. Sections (nested structs) are fields too; leaves are the rest.
type field struct {
	path  []string      // yaml keys from the root, e.g. ["http", "addr"]
	doc   string        // the doc tag
	value reflect.Value // addressable when walked from a pointer
}

// key returns the dotted yaml path, e.g. "http.addr".
func (f field) key() string { return strings.Join(f.path, ".") }

// envName returns the environment variable of f, e.g. PARLEY_HTTP_ADDR.
func (f field) envName() string {
	return envPrefix + strings.ToUpper(strings.Join(f.path, "_"))
}

// isSection reports whether f is a nested section rather than a value.
func (f field) isSection() bool { return f.value.Kind() == reflect.Struct }

// fieldAt returns the i-th field of struct v, whose yaml path is prefix. It
// panics on a field without a yaml key, a programming error the tests catch.
func fieldAt(v reflect.Value, prefix []string, i int) field {
	sf := v.Type().Field(i)
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "" || name == "-" {
		panic(fmt.Sprintf("config: field %s.%s has no yaml key", v.Type().Name(), sf.Name))
	}
	path := append(append([]string(nil), prefix...), name)
	return field{path: path, doc: sf.Tag.Get("doc"), value: v.Field(i)}
}

// walkFields calls fn for every field of the struct v in declaration order,
// sections before their contents.
func walkFields(v reflect.Value, prefix []string, fn func(field)) {
	for i := range v.NumField() {
		f := fieldAt(v, prefix, i)
		fn(f)
		if f.isSection() {
			walkFields(f.value, f.path, fn)
		}
	}
}

// leaves returns the value fields (not sections) of c, addressable.
func leaves(c *Config) []field {
	var out []field
	walkFields(reflect.ValueOf(c).Elem(), nil, func(f field) {
		if !f.isSection() {
			out = append(out, f)
		}
	})
	return out
}

// childField returns the field of struct v whose yaml key is name.
func childField(v reflect.Value, prefix []string, name string) (field, bool) {
	for i := range v.NumField() {
		if f := fieldAt(v, prefix, i); f.path[len(f.path)-1] == name {
			return f, true
		}
	}
	return field{}, false
}

// childKeys returns the yaml keys of the struct type t.
func childKeys(t reflect.Type) map[string]bool {
	keys := make(map[string]bool)
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		keys[key] = true
	}
	return keys
}

// setScalar parses s into v according to v's type. Lists are not scalars;
// callers handle them. Errors describe the expected form, not the key.
func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q (want a Go duration such as 10s, 15m or 200ms)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(n)
	default:
		panic(fmt.Sprintf("config: unsupported field type %s", v.Type()))
	}
	return nil
}

// formatValue renders a leaf value as it is written in YAML and environment
// variables: durations in their shortest form, lists comma-separated.
func formatValue(v reflect.Value) string {
	if v.Type() == durationType {
		return formatDuration(time.Duration(v.Int()))
	}
	if v.Type() == stringSliceType {
		return strings.Join(v.Interface().([]string), ",")
	}
	return fmt.Sprint(v.Interface())
}

// formatDuration writes d like time.Duration.String without zero trailing
// units: 15m instead of 15m0s, 720h instead of 720h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
