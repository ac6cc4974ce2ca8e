// Package cli defines the parley command line (cobra): serve, config, user,
// token and version. Commands return errors; only main exits.
package cli
