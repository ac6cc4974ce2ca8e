// Package schema reads a store backend's embedded schema migrations,
// migrations/NNNN_description.sql numbered from 1 without gaps, so that
// every backend (internal/store/sqlite, internal/store/postgres) versions
// its schema by the same rules and the two sequences stay aligned.
//
// It holds no state; its functions are safe for concurrent use.
package schema
