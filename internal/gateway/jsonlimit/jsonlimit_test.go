package jsonlimit

import (
	"bytes"
	"encoding/json"
	"errors"
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

func TestCheckDuplicateKeys(t *testing.T) {
	t.Parallel()
	fields := []string{"id", "op", "to", "seq", "kind", "client_msg_id"}
	for _, tc := range []struct {
		name string
		in   string
		dup  string // the field named twice; "" none
	}{
		{"distinct", `{"op":"send","to":"alice","seq":1}`, ""},
		{"same key twice", `{"op":"send","to":"alice","to":"mallory"}`, "to"},
		{"other case", `{"to":"alice","TO":"mallory"}`, "to"},
		{"mixed case", `{"Client_Msg_ID":"a","client_msg_id":"b"}`, "client_msg_id"},
		{"escaped", `{"to":"alice","t\u006f":"mallory"}`, "to"},
		{"escaped first", `{"\u0074\u006f":"alice","to":"mallory"}`, "to"},
		{"unicode folding (long s)", `{"seq":1,"ſeq":2}`, "seq"},
		{"unicode folding (kelvin sign)", `{"kind":"a","\u212aind":"b"}`, "kind"},
		{"first duplicate is reported", `{"op":1,"to":1,"op":2,"to":2}`, "op"},
		{"unknown keys may repeat", `{"x":1,"x":2,"op":"ping"}`, ""},
		{"nested objects may repeat keys", `{"op":"send","payload":{"to":1,"to":2},"positions":{"g_a":1,"g_a":2}}`, ""},
		{"nested then top", `{"payload":{"to":1},"to":"a"}`, ""},
		{"keys after a nested value", `{"payload":{"a":[1,{"b":2}]},"to":"a","to":"b"}`, "to"},
		{"a value that looks like a key", `{"body":"to","to":"to"}`, ""},
		{"key text inside a string value", `{"body":"\"to\":1,\"to\":2","to":1}`, ""},
		{"whitespace around", " {\n\"to\" : 1 ,\t\"to\" : 2 } ", "to"},
		{"array at the top", `["to","to"]`, ""},
		{"array of objects", `[{"to":1},{"to":2}]`, ""},
		{"empty key", `{"":1,"":2}`, ""},
		{"prefix is not a match", `{"to":1,"top":2,"t":3}`, ""},
	} {
		err := Check([]byte(tc.in), 32, fields)
		var de *DuplicateKeyError
		switch {
		case tc.dup == "" && err != nil:
			t.Errorf("%s: %v, want nil", tc.name, err)
		case tc.dup != "" && (!errors.As(err, &de) || de.Field != tc.dup):
			t.Errorf("%s: %v, want duplicate %q", tc.name, err, tc.dup)
		}
	}
	// Depth is checked before duplicates.
	deep := `{"to":1,"to":2,"p":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`
	if err := Check([]byte(deep), 32, fields); !errors.Is(err, ErrTooDeep) {
		t.Errorf("deep with duplicates: %v, want ErrTooDeep", err)
	}
	// Without fields Check is CheckDepth.
	if err := Check([]byte(`{"to":1,"to":2}`), 32, nil); err != nil {
		t.Errorf("no fields: %v", err)
	}
}

// TestCheckAgreesWithEncodingJSON: Check reports a duplicate exactly when
// encoding/json would have seen one field twice (and kept the last).
func TestCheckAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	type req struct {
		To  string `json:"to"`
		Seq uint64 `json:"seq"`
	}
	for _, key := range []string{"to", "TO", "To", "tO", "t\\u006f", "\\u0054O", "too", "t", "tō"} {
		doc := `{"to":"first","` + key + `":"second"}`
		var r req
		if err := json.Unmarshal([]byte(doc), &r); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		jsonSawTwice := r.To == "second"
		err := Check([]byte(doc), 32, []string{"to", "seq"})
		if (err != nil) != jsonSawTwice {
			t.Errorf("%s: Check = %v, encoding/json kept %q", doc, err, r.To)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"op":"send","to":"a","TO":"b","payload":{"to":[1,"]"]}}`))
	f.Add([]byte(`{"\u0074o":1,"x":{"to":2},"ſeq":3,"seq":[4]}`))
	fields := []string{"op", "to", "seq"}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data, 32, fields)
		if CheckDepth(data, 32) != nil {
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("Check(%q) = %v, CheckDepth refused it", data, err)
			}
			return
		}
		var de *DuplicateKeyError
		if err != nil && !errors.As(err, &de) {
			t.Fatalf("Check(%q) = %v", data, err)
		}
		// On valid JSON, Check agrees with a reference built on
		// encoding/json's tokenizer.
		if !json.Valid(data) {
			return
		}
		want := refDuplicate(t, data, fields)
		if got := ""; err != nil {
			got = de.Field
			if got != want {
				t.Fatalf("Check(%q) reports %q, reference %q", data, got, want)
			}
		} else if want != "" {
			t.Fatalf("Check(%q) = nil, reference finds %q twice", data, want)
		}
	})
}

// refDuplicate returns the first field named twice by the top-level object
// of the valid JSON document data, matching keys as encoding/json does.
func refDuplicate(t *testing.T, data []byte, fields []string) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ""
	}
	seen := map[int]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		for i, f := range fields {
			if strings.EqualFold(tok.(string), f) {
				if seen[i] {
					return f
				}
				seen[i] = true
				break
			}
		}
	}
	return ""
}
