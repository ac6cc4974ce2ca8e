package mqttclient

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/parley-im/parley/cmd/parley-bench/internal/conc"
)

// Delivery is the part of a delivered message's JSON payload the harness
// reads.
type Delivery struct {
	Conv string `json:"conv"`
	Seq  uint64 `json:"seq"`
	ID   string `json:"id"`
	From string `json:"from"`
	Body string `json:"body"`
}

// ParseDelivery decodes a delivered message's JSON payload.
func ParseDelivery(b []byte) (Delivery, error) {
	var d Delivery
	err := json.Unmarshal(b, &d)
	return d, err
}

// User is one harness user's connection parameters.
type User struct {
	User, Device, Password string
}

// Connect connects users[i] for i in [lo, hi), concurrency at a time,
// and subscribes each to filters(i) at qos (no subscription if filters
// returns none). onPublish(i) gives the handler of connection i (nil: none).
func Connect(ctx context.Context, addr string, keepalive time.Duration, users []User, out []*Client, lo, hi, concurrency int,
	qos byte, filters func(i int) []string, onPublish func(i int) func(*Pub, time.Time)) error {
	return conc.ForEachLimited(ctx, hi-lo, concurrency, func(j int) error {
		i := lo + j
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		u := users[i]
		var h func(*Pub, time.Time)
		if onPublish != nil {
			h = onPublish(i)
		}
		c, err := dialMQTT(dctx, DialOptions{Addr: addr, ClientID: u.Device, User: u.User, Password: u.Password,
			KeepAlive: keepalive, OnPublish: h})
		if err == nil && filters != nil {
			if fs := filters(i); len(fs) > 0 {
				if err = c.Subscribe(dctx, qos, fs...); err != nil {
					c.Close()
				}
			}
		}
		if err != nil {
			return fmt.Errorf("mqtt connection %d (%s/%s): %w", i, u.User, u.Device, err)
		}
		out[i] = c
		return nil
	})
}
