package core

import (
	"context"
	"fmt"
)

// SetPassword replaces a user's password: the admin path (`parley user
// passwd`), with CreateUser's rules. The user's sessions stay signed in. A
// remembered successful check of the old password no longer matches, as
// the stored hash changed; this holds for a server other than the one that
// made the change, sharing the store.
func (c *Core) SetPassword(ctx context.Context, user, password string) error {
	if password == "" {
		return badField("password", "must not be empty")
	}
	if len(password) > maxPassword {
		return badField("password", "is longer than %d bytes", maxPassword)
	}
	hash, err := c.passwords.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	if err := c.st.SetPassword(ctx, user, hash); err != nil {
		return fmt.Errorf("user %s: %w", user, err)
	}
	// The old password's remembered check would not match the new hash
	// anyway; forgetting it frees its memory at once.
	c.passwords.Forget(user)
	return nil
}
