package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/protocol"
	parley "github.com/parley-im/parley/sdk/go"
)

// TestRevocationHoldsForApplicationTokens: revoking a device, or all of a
// user's tokens, refuses the application-signed tokens issued before it
// (a token cannot bring the device back), while one issued afterwards
// signs in.
func TestRevocationHoldsForApplicationTokens(t *testing.T) {
	t.Parallel()
	const secret = "the-app-backend-shared-secret-0123456789"
	s := startServer(t, func(c *config.Config) { c.Auth.External.HMACSecret = secret })
	sign := func(device string, issued time.Time) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "carol", "dev": device,
			"iat": issued.Unix(), "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	dial := func(tok string) (*parley.Client, error) {
		return parley.Dial(ctxT(t), parley.Options{URL: s.URL, Token: tok})
	}
	early := time.Now().Add(-time.Minute)
	phone := sign("phone", early)
	c, err := dial(phone)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// carol revokes her phone from another device.
	web := &parley.API{BaseURL: s.URL, Token: sign("web", early)}
	if err := web.RevokeDevice(ctxT(t), "phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(phone); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("the revoked phone's token signed in again: %v", err)
	}
	// The web device was not revoked; a phone token issued after the
	// revocation (the next second) is a new sign-in.
	if _, err := web.Devices(ctxT(t)); err != nil {
		t.Fatalf("the other device's token: %v", err)
	}
	later := time.Now().Add(2 * time.Second)
	again, err := dial(sign("phone", later))
	if err != nil {
		t.Fatalf("a phone token issued after the revocation: %v", err)
	}
	defer again.Close()

	// Revoking all of carol's tokens refuses every earlier one, of any device.
	before := []string{sign("web", early), sign("tablet", early), sign("phone", time.Now().Add(-time.Second))}
	if status, _ := httpDo(t, "POST", s.URL+"/v1/admin/users/carol/revoke", adminKey, nil); status != http.StatusNoContent {
		t.Fatalf("admin revoke: %d", status)
	}
	for _, tok := range before {
		if _, err := dial(tok); !isCode(err, protocol.CodeUnauthorized) {
			t.Fatalf("a token from before the user's revocation signed in: %v", err)
		}
	}
	if _, err := dial(sign("tablet", time.Now().Add(2*time.Second))); err != nil {
		t.Fatalf("a token issued after the user's revocation: %v", err)
	}
	// A token without an issue time cannot show it is newer.
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "carol", "dev": "tablet",
		"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(secret))
	if _, err := dial(tok); !isCode(err, protocol.CodeUnauthorized) {
		t.Fatalf("a token without iat signed in after a revocation: %v", err)
	}
}
