package config

import (
	"fmt"
	"reflect"
	"strings"
)

// envPrefix starts every environment variable Parley reads.
const envPrefix = "PARLEY_"

// EnvConfigFile names the variable holding the path of the config file. The
// CLI reads it (its --config flag wins); Load ignores it.
const EnvConfigFile = "PARLEY_CONFIG"

// EnvTestPrefix starts variables reserved for test suites (for example the
// URL of a PostgreSQL server to test against). Load ignores them.
const EnvTestPrefix = "PARLEY_TEST_"

// envAllowed reports whether name is a PARLEY_* variable that is not a config
// key but must not be reported as a typo: EnvConfigFile and EnvTestPrefix*.
func envAllowed(name string) bool {
	return name == EnvConfigFile || strings.HasPrefix(name, EnvTestPrefix)
}

// EnvNames returns every config environment variable mapped to its yaml key
// (PARLEY_HTTP_ADDR → http.addr), derived from the struct tags.
func EnvNames() map[string]string {
	c := Default()
	out := make(map[string]string)
	for _, f := range leaves(&c) {
		out[f.envName()] = f.key()
	}
	return out
}

// applyEnv overlays the PARLEY_* entries of env onto c. A variable naming no
// field, or holding a value that does not parse, is an error naming the
// variable. Lists are comma-separated with surrounding spaces trimmed and
// empty items dropped. When a variable repeats, the last entry wins.
func applyEnv(env []string, c *Config) []error {
	byName := make(map[string]field)
	for _, f := range leaves(c) {
		byName[f.envName()] = f
	}
	var errs []error
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || envAllowed(name) {
			continue
		}
		f, ok := byName[name]
		if !ok {
			errs = append(errs, fmt.Errorf("environment variable %s: no such setting%s", name, suggest(name, byName)))
			continue
		}
		if f.value.Type() == stringSliceType {
			f.value.Set(reflect.ValueOf(splitList(value)))
			continue
		}
		if err := setScalar(f.value, value); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s (%s): %w", name, f.key(), err))
		}
	}
	return errs
}

// splitList splits a comma-separated list; it returns nil for no items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// suggest returns ` (did you mean X?)` for the known name closest to name
// when it is a likely typo (edit distance at most 3), else "".
func suggest[V any](name string, known map[string]V) string {
	best, bestDist := "", 4
	for k := range known {
		if d := editDistance(name, k); d < bestDist || d == bestDist && k < best {
			best, bestDist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
