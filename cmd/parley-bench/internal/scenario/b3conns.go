package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/parley-im/parley/cmd/parley-bench/internal/auth"
	"github.com/parley-im/parley/cmd/parley-bench/internal/mqttclient"
	"github.com/parley-im/parley/cmd/parley-bench/internal/wsclient"
)

// b3Target is where b3's connections go and how they are made: the same in
// the parley-bench process that runs b3 and in its agents.
type b3Target struct {
	system, protocol string
	addr             string // parley/ws: the WebSocket URL; mqtt: host:port; mqtt-ws: the /mqtt URL
	conns            int    // connections in all (their index space)
	perUser          int
	concurrency      int
	keepalive        time.Duration
	ext              *auth.External // parley only
}

// b3Holder opens and holds connections of t: open(lo, hi) opens those with
// index lo ≤ i < hi; close closes every one opened. For MQTT, a pinger keeps
// the opened ones alive from the first open until close.
type b3Holder struct {
	t      b3Target
	ws     []*websocket.Conn
	mu     sync.Mutex           // guards mq against the pinger
	mq     []*mqttclient.Client // the opened MQTT clients (nil: not opened)
	users  []mqttclient.User
	filter func(i int) []string
	ping   context.CancelFunc
}

func newB3Holder(t b3Target) (*b3Holder, error) {
	h := &b3Holder{t: t}
	switch {
	case t.protocol == "ws" && t.system == "parley":
		h.ws = make([]*websocket.Conn, t.conns)
	case t.protocol == "mqtt" && t.system == "mosquitto":
		h.users = make([]mqttclient.User, t.conns)
		for i := range h.users {
			h.users[i] = mqttclient.User{Device: fmt.Sprintf("b3-%d", i)}
		}
		h.filter = func(i int) []string { return []string{fmt.Sprintf("b3/%d", i)} }
	case (t.protocol == "mqtt" || t.protocol == "mqtt-ws") && t.system == "parley":
		h.users = make([]mqttclient.User, t.conns)
		for i := range h.users {
			u, d := fmt.Sprintf("u%d", i/t.perUser), fmt.Sprintf("d%d", i)
			tok, err := t.ext.Token(u, d, 2*time.Hour)
			if err != nil {
				return nil, err
			}
			h.users[i] = mqttclient.User{User: u, Device: d, Password: tok}
		}
		h.filter = func(i int) []string { return []string{"IMS/" + h.users[i].User + "/Inbox/Msg/#"} }
	default:
		return nil, fmt.Errorf("no %s/%s variant", t.system, t.protocol)
	}
	if h.users != nil {
		h.mq = make([]*mqttclient.Client, t.conns)
	}
	return h, nil
}

func (h *b3Holder) open(ctx context.Context, lo, hi int) error {
	if lo < 0 || hi > h.t.conns || lo > hi {
		return fmt.Errorf("connections %d..%d outside 0..%d", lo, hi, h.t.conns)
	}
	if h.ws != nil {
		return wsclient.OpenConns(ctx, h.t.addr, h.t.ext, h.ws, lo, hi, wsclient.OpenOptions{PerUser: h.t.perUser, Concurrency: h.t.concurrency})
	}
	out := make([]*mqttclient.Client, h.t.conns)
	err := mqttclient.Connect(ctx, h.t.addr, h.t.keepalive, h.users, out, lo, hi, h.t.concurrency, 1, h.filter, nil)
	h.mu.Lock()
	copy(h.mq[lo:hi], out[lo:hi]) // those opened before a failure are closed by close
	h.mu.Unlock()
	if err != nil {
		return err
	}
	if h.ping == nil {
		var pctx context.Context
		pctx, h.ping = context.WithCancel(context.Background())
		mqttclient.Pinger(pctx, func() []*mqttclient.Client {
			h.mu.Lock()
			defer h.mu.Unlock()
			return slices.Clone(h.mq)
		}, h.t.keepalive/2)
	}
	return nil
}

func (h *b3Holder) close() {
	if h.ping != nil {
		h.ping()
	}
	wsclient.CloseAll(h.ws)
	mqttclient.CloseAll(h.mq)
}

// wsURL is the WebSocket endpoint of a server at an http:// URL.
func wsURL(httpURL string) string {
	return "ws" + strings.TrimPrefix(httpURL, "http") + "/v1/ws"
}

// mqttWSURL is the MQTT-over-WebSocket endpoint of a server at an http://
// URL.
func mqttWSURL(httpURL string) string {
	return "ws" + strings.TrimPrefix(httpURL, "http") + "/mqtt"
}
