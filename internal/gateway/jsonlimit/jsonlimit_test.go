package jsonlimit

import (
	"strings"
	"testing"
)

func TestCheckDepth(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 30000) + strings.Repeat("]", 30000)
	for _, tc := range []struct {
		name string
		in   string
		max  int
		ok   bool
	}{
		{"flat object", `{"op":"send","body":"x"}`, 32, true},
		{"at the limit", strings.Repeat("[", 3) + strings.Repeat("]", 3), 3, true},
		{"one over", strings.Repeat("[", 4) + strings.Repeat("]", 4), 3, false},
		{"30000 nested arrays", deep, 32, false},
		{"brackets in strings do not count", `{"body":"[[[[[[[[{{{{{{"}`, 2, true},
		{"escaped quote keeps the string open", `{"body":"\"[[[[[["}`, 2, true},
		{"escaped backslash ends before the quote", `{"body":"\\","x":[[[]]]}`, 3, false},
		{"payload object", `{"payload":{"a":{"b":{"c":1}}}}`, 4, true},
	} {
		err := CheckDepth([]byte(tc.in), tc.max)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func FuzzCheckDepth(f *testing.F) {
	f.Add([]byte(`{"op":"send","payload":{"a":[1,2,{"b":"]"}]}}`), 4)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		if max < 0 || max > 64 {
			return
		}
		_ = CheckDepth(data, max) // must not panic
	})
}
