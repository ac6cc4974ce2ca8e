package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley/internal/store"
)

// Revocation holds for every kind of token (issue 11):
//
//   - Parley's own tokens name a session; logging out, revoking the device
//     or the user's tokens revokes sessions, and Authenticate refuses a
//     token of a revoked session.
//   - An application-signed token cannot be revoked by itself, so
//     revoking a device or a user's tokens raises a token floor
//     (store.TokenFloors): Authenticate refuses an application token
//     issued before the floor of its user or device, or one without an
//     issue time once a floor is set.
//   - A revocation can land between a connection's Authenticate and its
//     Attach, when the revoker's closing of connections does not see it
//     yet. Attach therefore checks the credentials again after the
//     connection is registered: the revoker either finds it registered and
//     closes it, or the check finds the revocation.

// floorAdmits reports whether an application token of id issued at issued
// is at or after the token floor of its user and device.
func (c *Core) floorAdmits(ctx context.Context, id Identity, issued time.Time) (bool, error) {
	floor, err := c.st.TokenFloor(ctx, id.User, id.Device)
	if err != nil {
		return false, fmt.Errorf("%w: token floor: %v", ErrUnavailable, err)
	}
	if floor.IsZero() {
		return true, nil
	}
	// Tokens carry whole seconds: one issued within the second of a
	// revocation is refused too, and the application issues another.
	return !issued.IsZero() && !issued.Before(floor), nil
}

// revokedSince reports whether id's credentials were revoked after they
// were checked (a revoked session, a disabled or deleted user, a token
// floor above the token). A store that fails to answer revokes nothing.
func (c *Core) revokedSince(id Identity) bool {
	ctx, cancel := context.WithTimeout(context.Background(), c.to.WriteTimeout)
	defer cancel()
	if id.Session != "" {
		s, err := c.st.Session(ctx, id.Session)
		if errors.Is(err, store.ErrNotFound) || err == nil && s.Revoked {
			return true
		}
	} else if id.App {
		if ok, err := c.floorAdmits(ctx, id, id.Issued); err == nil && !ok {
			return true
		}
	}
	u, err := c.st.User(ctx, id.User)
	return errors.Is(err, store.ErrNotFound) || err == nil && (u.Disabled || u.Deleted)
}

// raiseFloor records that application tokens of (user, device) issued
// before now are revoked (device "": all of the user's).
func (c *Core) raiseFloor(ctx context.Context, user, device string) error {
	if err := c.st.RaiseTokenFloor(ctx, user, device, c.now()); err != nil {
		return fmt.Errorf("raise token floor: %w", err)
	}
	return nil
}
