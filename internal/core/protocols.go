package core

import "context"

// Protocol names: the values of the protocol label of the connection,
// send and delivery metrics.
const (
	ProtoWebSocket = "websocket"
	ProtoMQTT      = "mqtt"
	ProtoHTTP      = "http"
	protoOther     = "other"
)

var protocols = []string{ProtoWebSocket, ProtoMQTT, ProtoHTTP, protoOther}

// ProtocolNamer is a Transport that names its protocol for the metrics;
// the core itself never branches on it.
type ProtocolNamer interface {
	Protocol() string
}

type protoKey struct{}

// WithProtocol returns ctx naming the protocol a request came in by, for
// the metrics of what the core does with it (sends).
func WithProtocol(ctx context.Context, proto string) context.Context {
	return context.WithValue(ctx, protoKey{}, proto)
}

// protocolOf is the protocol ctx names, or "other".
func protocolOf(ctx context.Context) string {
	if p, ok := ctx.Value(protoKey{}).(string); ok {
		return p
	}
	return protoOther
}

// transportProtocol is the protocol t names, or "other".
func transportProtocol(t Transport) string {
	if n, ok := t.(ProtocolNamer); ok {
		return n.Protocol()
	}
	return protoOther
}
