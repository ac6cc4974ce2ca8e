// Package app is Parley's composition root: the only package that imports
// concrete backends. It opens the store and the bus from a config.Config,
// builds the core and the gateways, starts them in dependency order, and
// shuts them down in reverse (lame duck: connections are closed over a short
// window so clients do not reconnect all at once).
//
// An App is started once and shut down once; Shutdown is idempotent.
package app
