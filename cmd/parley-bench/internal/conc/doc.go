// Package conc runs a bounded number of calls at once (ForEachLimited), the
// way the clients open thousands of connections and the scenarios prepare
// their users.
//
// Concurrency: ForEachLimited calls fn from up to limit goroutines at once,
// each with its own index; fn must be safe for that. It returns when every
// call it started has returned.
package conc
