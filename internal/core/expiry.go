package core

import (
	"context"
	"time"
)

// expiryInterval is how often devices not seen for DeviceExpiry are
// removed: a tenth of the expiry, but at least a minute and at most an hour.
func (c *Core) expiryInterval() time.Duration {
	return min(max(c.to.DeviceExpiry/10, time.Minute), time.Hour)
}

// runDeviceExpiry removes devices (with their sessions and positions) that
// have not been seen for DeviceExpiry (DESIGN.md §2.9). Devices connected
// right now are first marked seen, so a long-lived connection never
// expires its own device.
func (c *Core) runDeviceExpiry(ctx context.Context) {
	if c.to.DeviceExpiry <= 0 {
		return
	}
	t := time.NewTicker(c.expiryInterval())
	defer t.Stop()
	for {
		c.expireDevices(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Core) expireDevices(ctx context.Context) {
	now := c.now()
	for _, cl := range c.hub.all() {
		if err := c.st.TouchDevice(ctx, cl.id.User, cl.id.Device, now); err != nil {
			c.log.Warn("device expiry: touch", "user", cl.id.User, "err", err)
		}
	}
	n, err := c.st.ExpireDevices(ctx, now.Add(-c.to.DeviceExpiry))
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("device expiry", "err", err)
		}
		return
	}
	if n > 0 {
		c.log.Info("expired devices", "count", n, "not_seen_for", c.to.DeviceExpiry)
	}
}
