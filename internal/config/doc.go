// Package config is the one typed configuration of `parley serve`: its
// defaults, how it is loaded, and the rules it must keep.
//
// A value comes from, in rising precedence: Default, the YAML config file,
// PARLEY_* environment variables, and the operator flags registered by
// BindFlags. The usual sequence is
//
//	c, err := config.Load(path, os.Environ())
//	flags.Apply(&c) // after the flag set is parsed
//	err = c.Validate()
//
// The struct tags of Config are the single description of every setting:
// the yaml tag is the file key, the environment variable is derived from it
// (PARLEY_ + the yaml path in capitals joined by "_", so timeouts.auth_deadline
// is PARLEY_TIMEOUTS_AUTH_DEADLINE; lists are comma-separated), and the doc
// tag is the comment DefaultYAML writes. Adding a field to Config adds its
// file key, its variable and its documentation at once.
//
// Loading is strict so that typos surface at startup: an unknown or repeated
// key in the file, and a PARLEY_* variable that names no setting, are
// errors. Two kinds of PARLEY_* variables are allowed without being
// settings: PARLEY_CONFIG (EnvConfigFile, the config file path, read by the
// CLI) and names beginning with PARLEY_TEST_ (EnvTestPrefix, reserved for
// test suites). YAML anchors and aliases work; merge keys (<<) do not.
//
// Durations are Go duration strings ("10s", "15m", "200ms") both in the file
// and in variables. Error messages quote only values that failed to parse as
// a number, boolean or duration; strings, where secrets such as
// auth.signing_key or store.postgres_url live, are never echoed.
//
// The package has no global state; a Config is a plain value and safe to
// copy. Functions are safe for concurrent use; a Flags belongs to one
// FlagSet and is used from the goroutine that parses it.
package config
