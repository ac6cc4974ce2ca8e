// Package admit holds what the gateways check and answer before they serve
// a request from the network, so that the WebSocket, MQTT-over-WebSocket
// and HTTP gateways admit browsers and refuse clients alike without
// importing one another: the Origin allow-list (OriginAllowed) and the 429
// answer of a request refused by a per-address or per-user limit
// (WriteTooMany).
//
// Concurrency: the package has no state. Its functions may be called from
// any number of goroutines at once; they read only their arguments, and
// WriteTooMany writes only to the http.ResponseWriter it is given (which,
// as always, belongs to one handler goroutine).
package admit
