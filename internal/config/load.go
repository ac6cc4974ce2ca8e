package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Load returns Default overlaid with the YAML file at path (skipped when path
// is empty) and then with the PARLEY_* variables in env, given as KEY=VALUE
// like os.Environ. Flags are applied afterwards by Flags.Apply, and Validate
// is the caller's last step: Load checks syntax and types, not rules.
//
// The file is strict: an unknown or repeated key, a value of the wrong type
// or a second YAML document is an error. Every problem found is reported,
// joined, each naming its key and line (or its variable).
func Load(path string, env []string) (Config, error) {
	c := Default()
	var errs []error
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
		errs = append(errs, decodeYAML(data, path, &c)...)
	}
	errs = append(errs, applyEnv(env, &c)...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// decodeYAML overlays the YAML document in data onto c. Keys absent from the
// document keep their value; a key set to null resets its value to zero.
func decodeYAML(data []byte, name string, c *Config) []error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return []error{fmt.Errorf("%s: %w", name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return []error{fmt.Errorf("%s: want one YAML document, found more", name)}
	}
	d := decoder{name: name}
	if len(doc.Content) == 1 {
		d.section(doc.Content[0], reflect.ValueOf(c).Elem(), nil)
	}
	return d.errs
}

// decoder walks a YAML node tree alongside the Config struct, collecting
// errors instead of stopping at the first.
type decoder struct {
	name string
	errs []error
}

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if key != "" {
		msg = key + ": " + msg
	}
	d.errs = append(d.errs, fmt.Errorf("%s:%d: %s", d.name, n.Line, msg))
}

// section decodes the mapping n into the struct v; prefix is v's yaml path.
func (d *decoder) section(n *yaml.Node, v reflect.Value, prefix []string) {
	n = resolve(n)
	key := field{path: prefix}.key()
	if isNull(n) {
		return // an empty section sets nothing
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, "want a mapping of keys, found %s", describe(n))
		return
	}
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			d.fail(kn, key, "want plain keys, found %s as a key", describe(kn))
			continue
		}
		f, ok := childField(v, prefix, kn.Value)
		if !ok {
			full := field{path: append(append([]string(nil), prefix...), kn.Value)}.key()
			d.fail(kn, "", "unknown key %q%s", full, suggest(kn.Value, childKeys(v.Type())))
			continue
		}
		if line, dup := seen[kn.Value]; dup {
			d.fail(kn, f.key(), "repeated key (first set on line %d)", line)
			continue
		}
		seen[kn.Value] = kn.Line
		switch {
		case f.isSection():
			d.section(vn, f.value, f.path)
		case f.value.Type() == stringSliceType:
			d.list(vn, f)
		default:
			d.scalar(vn, f)
		}
	}
}

// list decodes a sequence of scalars into the []string field f.
func (d *decoder) list(n *yaml.Node, f field) {
	n = resolve(n)
	if isNull(n) {
		f.value.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, f.key(), "want a list, found %s", describe(n))
		return
	}
	var items []string
	for _, item := range n.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			d.fail(item, f.key(), "want a list of strings, found %s", describe(item))
			return
		}
		items = append(items, item.Value)
	}
	f.value.Set(reflect.ValueOf(items)) // nil when the list is empty
}

// scalar decodes one scalar into the leaf field f.
func (d *decoder) scalar(n *yaml.Node, f field) {
	n = resolve(n)
	if isNull(n) {
		f.value.SetZero()
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, f.key(), "want a single value, found %s", describe(n))
		return
	}
	if err := setScalar(f.value, n.Value); err != nil {
		d.fail(n, f.key(), "%v", err)
	}
}

// resolve follows aliases (*name) to the anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return "a single value" // not quoted: it may be a misplaced secret
	default:
		return "an unsupported node"
	}
}
