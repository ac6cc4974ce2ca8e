// Package auth gives the generator's users their credentials: application
// tokens signed with a secret the server is started with (External: no
// password hashing, users created on first use), or real users and access
// tokens made with the server binary's own "user add" and "token" commands
// on a data directory before the server runs (CLITokens).
//
// Concurrency: an External is immutable once made and safe for concurrent
// use. CLITokens runs at most workers commands at a time and returns when
// they have all ended.
package auth
