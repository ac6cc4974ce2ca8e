package mqtt

import (
	"context"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/protocol"
)

// Core is what the gateway uses of the core, by role; *core.Core is one.
// The gateway never reaches the store: sessions go through
// core.MQTTSessions like everything else through the core.
type Core interface {
	core.SystemTopics // IMS/System/<value> subscriptions (system.go)
	connector
	chat
	core.Broadcasts // ROOT/<self>/Broadcast publishes (broadcast.go)
	core.MQTTSessions
	core.Friends // GFReq and GFResp publishes (friends.go)
	core.Invites // answers on GInv (invites.go)
	moments      // ROOT/<user> publishes and subscriptions (moments.go)
}

// moments is what moment topics ask of the core.
type moments interface {
	PostMoment(ctx context.Context, id core.Identity, p protocol.MomentPost) (protocol.Moment, error)
	IsFollowing(ctx context.Context, user, other string) (bool, error)
}

// connector authenticates CONNECTs and attaches their connections.
type connector interface {
	Authenticate(ctx context.Context, token, device string) (core.Identity, error)
	CheckPassword(ctx context.Context, user, password, device string) (core.Identity, error)
	Attach(id core.Identity, t core.Transport) (*core.Client, error)
	Metrics() *core.Metrics
}

// chat is what publishes and subscriptions do: sends, acks, reads, typing
// and the membership checks of group topics.
type chat interface {
	IsMember(ctx context.Context, user, conv string) (bool, error)
	Send(ctx context.Context, id core.Identity, r core.SendRequest) (protocol.Ack, error)
	Ack(ctx context.Context, id core.Identity, conv string, seq uint64) error
	AckDelivered(ctx context.Context, id core.Identity, conv string, seq uint64) error
	Read(ctx context.Context, id core.Identity, conv string, seq uint64) (protocol.ReadState, error)
	Typing(ctx context.Context, id core.Identity, conv string) error
}

// Interface guard.
var _ Core = (*core.Core)(nil)
