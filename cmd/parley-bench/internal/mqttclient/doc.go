// Package mqttclient is the generator's own minimal MQTT 3.1.1 client
// (CONNECT, SUBSCRIBE, PUBLISH at QoS 0 and 1, PUBACK, PINGREQ), over TCP or
// WebSocket, with helpers to connect many users at once (Connect), keep
// them alive with one goroutine (Pinger) and read delivered messages
// (ParseDelivery). It is used both against Parley's MQTT gateway and
// against Mosquitto.
//
// Concurrency: a Client has one reader goroutine, which calls
// DialOptions.OnPublish (it must not block). Its writes are serialised, so
// Publish and the Pinger's pings may come from several goroutines;
// PublishWait and Subscribe wait for their acknowledgement, so one
// goroutine at a time uses them per client. Close ends the reader.
package mqttclient
