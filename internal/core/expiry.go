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
// right now are marked seen in the same transaction, before the expiry, so
// a long-lived connection never expires its own device.
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

// expireDevices is one pass: the connected devices' touches join the write
// buffer, and the committer writes the buffer and then the expiry in one
// transaction (after a few others when more than maxTouchesPerCommit
// devices are connected), not one transaction per device.
func (c *Core) expireDevices(ctx context.Context) {
	now := c.now()
	for _, cl := range c.hub.all() {
		c.touchDevice(cl.id.User, cl.id.Device, now)
	}
	var err error
	for range c.touches.len() / maxTouchesPerCommit {
		// Most of the touches first: the expiry's transaction stays small.
		if _, err = c.commit.flushBuffered(ctx, time.Time{}); err != nil {
			break
		}
	}
	var res commitRes
	if err == nil {
		res, err = c.commit.flushBuffered(ctx, now.Add(-c.to.DeviceExpiry))
	}
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("device expiry", "err", err)
		}
		return
	}
	if n := len(res.expired); n > 0 {
		c.log.Info("expired devices", "count", n, "not_seen_for", c.to.DeviceExpiry)
	}
}
