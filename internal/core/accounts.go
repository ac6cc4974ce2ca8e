package core

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// DefaultDevice is the device of a connection whose token and hello name none.
const DefaultDevice = "default"

// maxPassword bounds password length (argon2 hashes any length; this bounds CPU).
const maxPassword = 1024

// CreateUser creates a user with a password (empty: no password login).
// It is the admin path; Register is the public one.
func (c *Core) CreateUser(ctx context.Context, user, password, displayName string) (protocol.User, error) {
	if err := ValidateUserID(user); err != nil {
		return protocol.User{}, err
	}
	if len(password) > maxPassword {
		return protocol.User{}, badField("password", "is longer than %d bytes", maxPassword)
	}
	if len(displayName) > 256 || !utf8.ValidString(displayName) {
		return protocol.User{}, badField("display_name", "must be at most 256 bytes of UTF-8")
	}
	hash := ""
	if password != "" {
		var err error
		if hash, err = c.passwords.Hash(ctx, password); err != nil {
			return protocol.User{}, fmt.Errorf("hash password: %w", err)
		}
	}
	u := store.User{ID: user, DisplayName: displayName, PasswordHash: hash, CreatedAt: c.now()}
	if err := c.st.CreateUser(ctx, u); err != nil {
		return protocol.User{}, fmt.Errorf("create user %s: %w", user, err)
	}
	return protocol.User{ID: u.ID, DisplayName: u.DisplayName, CreatedAt: u.CreatedAt.UnixMilli()}, nil
}

// Register creates a user through the public API, if registration is open.
func (c *Core) Register(ctx context.Context, user, password, displayName string) (protocol.User, error) {
	if !c.allowRegistration {
		return protocol.User{}, ErrRegistrationClosed
	}
	if len(password) < 8 {
		return protocol.User{}, badField("password", "must be at least 8 characters")
	}
	return c.CreateUser(ctx, user, password, displayName)
}

// Login checks a password and opens a session for the device. Unknown users,
// wrong passwords and disabled users get the same error after the same work.
func (c *Core) Login(ctx context.Context, user, password, device string) (protocol.Tokens, error) {
	if device == "" {
		device = DefaultDevice
	}
	if err := ValidateDeviceID(device); err != nil {
		return protocol.Tokens{}, err
	}
	u, err := c.verifyPassword(ctx, user, password)
	if err != nil {
		return protocol.Tokens{}, err
	}
	return c.OpenSession(ctx, u.ID, device, c.to.AccessTTL)
}

// verifyPassword checks user's password and returns the user. An unknown
// user, a wrong password and a disabled or deleted user get the same
// ErrUnauthorized after the same work; ErrBusy means the password could
// not be checked in time (too many checks at once), ErrUnavailable that
// the user could not be read. A success is remembered (auth.Verifier), so
// the next check of the same password costs no hashing.
func (c *Core) verifyPassword(ctx context.Context, user, password string) (store.User, error) {
	if len(password) > maxPassword {
		return store.User{}, ErrUnauthorized
	}
	u, err := c.st.User(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: user lookup: %v", ErrUnavailable, err)
	}
	ok, err := c.passwords.Check(ctx, user, u.PasswordHash, password)
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		return store.User{}, ErrUnauthorized
	}
	if u.Disabled || u.Deleted {
		c.passwords.Forget(user) // a disabled user's password is not kept
		return store.User{}, ErrUnauthorized
	}
	return u, nil
}

// admitDevice lets id's device in: a known device as it is, a new one
// registered, unless the user already has Limits.DevicesPerUser devices,
// which refuses it with ErrTooManyDevices. A device marked seen within
// seenEvery is known and costs no store access.
func (c *Core) admitDevice(ctx context.Context, id Identity) error {
	if c.limits.DevicesPerUser <= 0 {
		return nil
	}
	now := c.now()
	c.seenMu.Lock()
	last, ok := c.lastSeen[devID{user: id.User, device: id.Device}]
	c.seenMu.Unlock()
	if ok && now.Sub(last) < seenEvery {
		return nil
	}
	created, err := c.st.AddDevice(ctx, id.User, id.Device, now, c.limits.DevicesPerUser)
	switch {
	case err == nil:
		if created {
			// Registered and seen just now: seen need not touch it again.
			c.markSeen(devID{user: id.User, device: id.Device}, now)
		}
		return nil
	case errors.Is(err, store.ErrLimit):
		c.log.Debug("new device refused", "user", id.User, "device", id.Device, "devices_per_user", c.limits.DevicesPerUser)
		return fmt.Errorf("%w: %d devices", ErrTooManyDevices, c.limits.DevicesPerUser)
	case errors.Is(err, store.ErrNotFound):
		return ErrUnauthorized // the user was deleted meanwhile
	}
	return fmt.Errorf("%w: register device: %v", ErrUnavailable, err)
}

// CheckPassword authenticates (user, password) for a connection of device
// without opening a session (an MQTT CONNECT with a password): the same
// checks and the same work as Login, and the same error for an unknown
// user, a wrong password and a disabled user. The identity has no session;
// revoking the device or disabling the user still closes the connection.
func (c *Core) CheckPassword(ctx context.Context, user, password, device string) (Identity, error) {
	if err := ValidateDeviceID(device); err != nil {
		return Identity{}, err
	}
	u, err := c.verifyPassword(ctx, user, password)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{User: u.ID, Device: device}
	if err := c.admitDevice(ctx, id); err != nil {
		return Identity{}, err
	}
	c.seen(id)
	return id, nil
}

// OpenSession creates a session for (user, device) and returns its tokens;
// a new device beyond Limits.DevicesPerUser is refused with
// ErrTooManyDevices. The admin CLI uses it for `parley token`.
func (c *Core) OpenSession(ctx context.Context, user, device string, accessTTL time.Duration) (protocol.Tokens, error) {
	if err := c.admitDevice(ctx, Identity{User: user, Device: device}); err != nil {
		return protocol.Tokens{}, err
	}
	sid := auth.NewSessionID()
	refresh, hash, err := auth.NewRefreshToken(sid)
	if err != nil {
		return protocol.Tokens{}, err
	}
	now := c.now()
	if err := c.st.CreateSession(ctx, store.Session{ID: sid, User: user, Device: device, RefreshHash: hash,
		CreatedAt: now, ExpiresAt: now.Add(c.to.RefreshTTL)}); err != nil {
		return protocol.Tokens{}, fmt.Errorf("create session: %w", err)
	}
	access, _, err := c.signer.Issue(sid, user, device, accessTTL)
	if err != nil {
		return protocol.Tokens{}, err
	}
	return protocol.Tokens{AccessToken: access, RefreshToken: refresh, ExpiresIn: int(accessTTL.Seconds()), User: user, Device: device}, nil
}

// Refresh exchanges a refresh token for new tokens; the old refresh token
// stops working (rotation).
func (c *Core) Refresh(ctx context.Context, refresh string) (protocol.Tokens, error) {
	sid, ok := auth.SessionOfRefresh(refresh)
	if !ok {
		return protocol.Tokens{}, ErrUnauthorized
	}
	s, err := c.st.Session(ctx, sid)
	if err != nil || s.Revoked || c.now().After(s.ExpiresAt) {
		return protocol.Tokens{}, ErrUnauthorized
	}
	u, err := c.st.User(ctx, s.User)
	if err != nil || u.Disabled {
		return protocol.Tokens{}, ErrUnauthorized
	}
	next, hash, err := auth.NewRefreshToken(sid)
	if err != nil {
		return protocol.Tokens{}, err
	}
	if err := c.st.RotateRefresh(ctx, sid, auth.HashRefresh(refresh), hash, c.now().Add(c.to.RefreshTTL)); err != nil {
		return protocol.Tokens{}, ErrUnauthorized
	}
	access, _, err := c.signer.Issue(sid, s.User, s.Device, c.to.AccessTTL)
	if err != nil {
		return protocol.Tokens{}, err
	}
	return protocol.Tokens{AccessToken: access, RefreshToken: next, ExpiresIn: int(c.to.AccessTTL.Seconds()), User: s.User, Device: s.Device}, nil
}

// Logout revokes id's session and closes its connections.
func (c *Core) Logout(ctx context.Context, id Identity) error {
	if id.Session == "" {
		return badField("token", "application-signed tokens cannot be logged out here")
	}
	if err := c.st.RevokeSession(ctx, id.Session); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	c.closeEverywhere(closeSel{User: id.User, Session: id.Session, Code: protocol.CloseRevoked, Reason: "logged out"})
	return nil
}

// Authenticate verifies an access token (Parley's own, or one signed by the
// application's backend) and returns the identity. device is the device the
// client names; a token that names a device wins over it.
func (c *Core) Authenticate(ctx context.Context, token, device string) (Identity, error) {
	if token == "" {
		return Identity{}, ErrUnauthorized
	}
	var claims auth.Claims
	var err error
	if auth.IsParleyToken(token) || c.ext == nil {
		claims, err = c.signer.Verify(token)
	} else {
		claims, err = c.ext.Verify(token)
	}
	if err != nil {
		c.log.Debug("token refused", "err", err)
		return Identity{}, ErrUnauthorized
	}
	id := Identity{User: claims.User, Device: claims.Device, Session: claims.Session}
	if id.Device == "" {
		id.Device = device
	}
	if id.Device == "" {
		id.Device = DefaultDevice
	}
	if err := ValidateDeviceID(id.Device); err != nil {
		return Identity{}, err
	}
	if claims.External {
		if err := ValidateUserID(claims.User); err != nil {
			return Identity{}, &AuthError{Reason: "the token's sub is not a valid Parley user id: " + err.Error()}
		}
		if err := c.ensureExternalUser(ctx, claims.User); err != nil {
			return Identity{}, err
		}
		id.App, id.Issued = true, claims.IssuedAt
		if ok, err := c.floorAdmits(ctx, id, claims.IssuedAt); err != nil {
			return Identity{}, err
		} else if !ok {
			c.log.Debug("token refused", "user", id.User, "device", id.Device, "err", "issued before the device or its user was revoked")
			return Identity{}, ErrUnauthorized
		}
		// The device of an application's token may be any id the client
		// names: the cap on devices holds here too.
		if err := c.admitDevice(ctx, id); err != nil {
			return Identity{}, err
		}
		c.seen(id)
		return id, nil
	}
	// A store that fails is not a reason to sign anyone out: only a missing
	// or revoked session or user is 401; a failing lookup is 503 and the
	// client retries.
	s, err := c.st.Session(ctx, claims.Session)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Identity{}, fmt.Errorf("%w: session lookup: %v", ErrUnavailable, err)
	}
	if err != nil || s.Revoked || s.User != claims.User {
		return Identity{}, ErrUnauthorized
	}
	u, err := c.st.User(ctx, claims.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Identity{}, fmt.Errorf("%w: user lookup: %v", ErrUnavailable, err)
	}
	if err != nil || u.Disabled || u.Deleted {
		return Identity{}, ErrUnauthorized
	}
	c.seen(id)
	return id, nil
}

// seenEvery is how often an authenticated request marks its device seen:
// often enough that a device used only over HTTP never reaches the expiry,
// rarely enough to cost nothing per request.
const seenEvery = time.Hour

// maxLastSeenCache bounds the in-memory last-seen times of devices
// (Core.lastSeen); past it the cache starts over, and each device is
// marked seen in the store again on its next request.
const maxLastSeenCache = 1 << 20

// seen marks the device of an authenticated request as seen, at most once
// per seenEvery, with the next flush of the write buffer.
func (c *Core) seen(id Identity) {
	now := c.now()
	if !c.markSeen(devID{user: id.User, device: id.Device}, now) {
		return
	}
	c.touchDevice(id.User, id.Device, now)
}

// markSeen records that the device k was seen at now, and reports whether
// it had not been within seenEvery (so the store should be told).
func (c *Core) markSeen(k devID, now time.Time) bool {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	if last, ok := c.lastSeen[k]; ok && now.Sub(last) < seenEvery {
		return false
	}
	if len(c.lastSeen) >= maxLastSeenCache {
		c.lastSeen = make(map[devID]time.Time)
	}
	c.lastSeen[k] = now
	return true
}

// ensureExternalUser creates the user of an application-signed token on
// first sight, with no Parley password.
func (c *Core) ensureExternalUser(ctx context.Context, user string) error {
	u, err := c.st.User(ctx, user)
	if err == nil {
		if u.Disabled {
			return ErrUnauthorized
		}
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("external user: %w", err)
	}
	err = c.st.CreateUser(ctx, store.User{ID: user, CreatedAt: c.now()})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("create external user: %w", err)
	}
	return nil
}

// Devices lists the user's devices.
func (c *Core) Devices(ctx context.Context, user string) ([]protocol.Device, error) {
	ds, err := c.st.Devices(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	online := map[string]bool{}
	for _, cl := range c.hub.clients(user) {
		online[cl.id.Device] = true
	}
	out := make([]protocol.Device, 0, len(ds))
	for _, d := range ds {
		out = append(out, protocol.Device{ID: d.ID, CreatedAt: d.CreatedAt.UnixMilli(), LastSeen: d.LastSeen.UnixMilli(), Online: online[d.ID]})
	}
	return out, nil
}

// RevokeDevice ends a device: its sessions, its connections, its positions.
func (c *Core) RevokeDevice(ctx context.Context, user, device string) error {
	if err := ValidateDeviceID(device); err != nil {
		return err
	}
	// No flush may write this device's positions, or register it again,
	// after it is deleted.
	err := c.revokeBuffered(user, device, func() error { return c.st.DeleteDevice(ctx, user, device) })
	if err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	// Application tokens of the device issued until now stay revoked.
	if err := c.raiseFloor(ctx, user, device); err != nil {
		return err
	}
	// Its slot is free (Limits.DevicesPerUser); the same id coming back
	// is a new device and is counted again.
	c.seenMu.Lock()
	delete(c.lastSeen, devID{user: user, device: device})
	c.seenMu.Unlock()
	c.closeEverywhere(closeSel{User: user, Device: device, Code: protocol.CloseRevoked, Reason: "device revoked"})
	return nil
}

// ListUsers lists users for the admin API.
func (c *Core) ListUsers(ctx context.Context, after string, limit int) ([]protocol.User, error) {
	us, err := c.st.ListUsers(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]protocol.User, 0, len(us))
	for _, u := range us {
		out = append(out, userToProtocol(u))
	}
	return out, nil
}

// User returns one user as ListUsers lists it, a deleted one as its
// tombstone (Deleted and Disabled set); store.ErrNotFound for an unknown
// user.
func (c *Core) User(ctx context.Context, user string) (protocol.User, error) {
	u, err := c.st.User(ctx, user)
	if err != nil {
		return protocol.User{}, fmt.Errorf("user %s: %w", user, err)
	}
	return userToProtocol(u), nil
}

// userToProtocol is the admin view of a user.
func userToProtocol(u store.User) protocol.User {
	p := protocol.User{ID: u.ID, DisplayName: u.DisplayName, Disabled: u.Disabled, Deleted: u.Deleted,
		CreatedAt: u.CreatedAt.UnixMilli()}
	if !u.LastSeen.IsZero() {
		p.LastSeen = u.LastSeen.UnixMilli()
	}
	return p
}

// SetDisabled disables (or re-enables) a user; disabling revokes their
// sessions and closes their connections.
func (c *Core) SetDisabled(ctx context.Context, user string, disabled bool) error {
	if err := c.st.SetDisabled(ctx, user, disabled); err != nil {
		return fmt.Errorf("set disabled: %w", err)
	}
	if disabled {
		c.passwords.Forget(user)
		return c.RevokeTokens(ctx, user)
	}
	return nil
}

// RevokeTokens revokes every session of the user and closes their connections.
func (c *Core) RevokeTokens(ctx context.Context, user string) error {
	if _, err := c.st.User(ctx, user); err != nil {
		return fmt.Errorf("user %s: %w", user, err)
	}
	if err := c.st.RevokeUser(ctx, user); err != nil {
		return fmt.Errorf("revoke user: %w", err)
	}
	if err := c.raiseFloor(ctx, user, ""); err != nil {
		return err
	}
	c.closeEverywhere(closeSel{User: user, Code: protocol.CloseRevoked, Reason: "tokens revoked"})
	return nil
}

// Kick closes every connection of the user (close code 3503: clients do
// not reconnect by themselves, but the user may sign in again), on every
// node; it returns how many it closed on this one.
func (c *Core) Kick(user string) int {
	return c.closeEverywhere(closeSel{User: user, Code: protocol.CloseKicked, Reason: "disconnected by an administrator"})
}

func (c *Core) closeWhere(user string, match func(*Client) bool, code int, reason string) int {
	n := 0
	for _, cl := range append([]*Client(nil), c.hub.clients(user)...) {
		if match(cl) {
			cl.Close(code, reason)
			n++
		}
	}
	return n
}
