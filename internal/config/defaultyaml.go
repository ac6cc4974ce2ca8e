package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// defaultYAMLHeader opens the file written by DefaultYAML.
const defaultYAMLHeader = `# Parley configuration for "parley serve".
#
# Every key is listed with its default value; delete the ones you keep.
# Precedence: built-in defaults < this file < PARLEY_* environment variables
# < command-line flags. A key's variable is PARLEY_ followed by its path in
# capitals joined by "_" (http.addr is PARLEY_HTTP_ADDR); lists are
# comma-separated there. Unknown keys and unknown PARLEY_* variables are
# errors. Check a file with "parley config check".
`

// commentWidth is the column at which DefaultYAML wraps comments.
const commentWidth = 78

// DefaultYAML returns a config file that sets every key to its default, each
// preceded by a comment taken from the key's doc tag, its default and its
// environment variable. Loading it yields exactly Default().
func DefaultYAML() []byte {
	var b bytes.Buffer
	b.WriteString(defaultYAMLHeader)
	c := Default()
	writeSection(&b, reflect.ValueOf(&c).Elem(), nil)
	return b.Bytes()
}

// writeSection writes the fields of struct v, indented by their depth.
func writeSection(b *bytes.Buffer, v reflect.Value, prefix []string) {
	indent := strings.Repeat("  ", len(prefix))
	for i := range v.NumField() {
		f := fieldAt(v, prefix, i)
		if i > 0 || len(prefix) == 0 {
			b.WriteString("\n") // a blank line between keys, none after "section:"
		}
		doc := f.doc
		if !f.isSection() {
			doc += " Default: " + describeDefault(f.value) + ". Environment: " + f.envName() + "."
		}
		writeComment(b, indent, doc)
		name := f.path[len(f.path)-1]
		switch {
		case f.isSection():
			fmt.Fprintf(b, "%s%s:\n", indent, name)
			writeSection(b, f.value, f.path)
		case f.value.Type() == stringSliceType && f.value.Len() == 0:
			fmt.Fprintf(b, "%s%s: []\n", indent, name)
		case f.value.Type() == stringSliceType:
			fmt.Fprintf(b, "%s%s:\n", indent, name)
			for j := range f.value.Len() {
				fmt.Fprintf(b, "%s  - %s\n", indent, yamlScalar(f.value.Index(j).Interface()))
			}
		case f.value.Type() == durationType:
			fmt.Fprintf(b, "%s%s: %s\n", indent, name, yamlScalar(formatValue(f.value)))
		default:
			fmt.Fprintf(b, "%s%s: %s\n", indent, name, yamlScalar(f.value.Interface()))
		}
	}
}

// describeDefault renders a default value for a comment.
func describeDefault(v reflect.Value) string {
	if v.Type() == stringSliceType && v.Len() == 0 {
		return "empty list"
	}
	if s := formatValue(v); s != "" {
		return s
	}
	return "empty"
}

// yamlScalar encodes one scalar value as YAML, quoting it where needed.
func yamlScalar(v any) string {
	out, err := yaml.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("config: encode %v: %v", v, err)) // scalars always encode
	}
	return strings.TrimSuffix(string(out), "\n")
}

// writeComment writes text as "# " lines wrapped at commentWidth.
func writeComment(b *bytes.Buffer, indent, text string) {
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(indent)+2+len(line)+1+len(word) > commentWidth {
			fmt.Fprintf(b, "%s# %s\n", indent, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		fmt.Fprintf(b, "%s# %s\n", indent, line)
	}
}
