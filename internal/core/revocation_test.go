package core

import (
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
)

// TestRevocationBetweenAuthenticateAndAttach: a logout, device revocation
// or revocation of the user's tokens that lands after a connection
// authenticated and before it attached closes it as revoked at Attach
// (the revoker's own closing could not see it yet).
func TestRevocationBetweenAuthenticateAndAttach(t *testing.T) {
	e := newCoreEnv(t, Retention{})
	for _, tc := range []struct {
		name   string
		revoke func(id Identity) error
	}{
		{"logout", func(id Identity) error { return e.c.Logout(e.ctx, id) }},
		{"device revoked", func(id Identity) error { return e.c.RevokeDevice(e.ctx, id.User, id.Device) }},
		{"tokens revoked", func(id Identity) error { return e.c.RevokeTokens(e.ctx, id.User) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := e.c.Login(e.ctx, "alice", "password", "phone")
			if err != nil {
				t.Fatal(err)
			}
			id, err := e.c.Authenticate(e.ctx, tok.AccessToken, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.revoke(id); err != nil {
				t.Fatal(err)
			}
			ft := newFakeTransport()
			cl, err := e.c.Attach(id, ft)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close(protocol.CloseShutdown, "done")
			select {
			case code := <-ft.closed:
				if code != protocol.CloseRevoked {
					t.Fatalf("closed with %d, want %d", code, protocol.CloseRevoked)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a connection attached on revoked credentials stayed open")
			}
		})
	}
}
