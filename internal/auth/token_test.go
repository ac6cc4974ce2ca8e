package auth_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-im/parley/internal/auth"
)

// testKey is a 32-byte signing key.
var testKey = []byte("0123456789abcdef0123456789abcdef")

func newSigner(t *testing.T, key []byte) *auth.Signer {
	t.Helper()
	s, err := auth.NewSigner(key)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s
}

// sign signs claims with method and key, as a forger (or another issuer) would.
func sign(t *testing.T, method jwt.SigningMethod, claims jwt.Claims, key any) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return tok
}

// parleyClaims are claims shaped like the Signer's, valid for an hour.
func parleyClaims(mutate func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": auth.Issuer, "aud": []string{auth.Audience}, "sub": "alice", "sid": "s1", "dev": "phone",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if mutate != nil {
		mutate(c)
	}
	return c
}

func TestNewSignerKeyLength(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		key     []byte
		wantErr bool
	}{
		{"nil", nil, true},
		{"31 bytes", testKey[:31], true},
		{"32 bytes", testKey, false},
		{"64 bytes", append(append([]byte(nil), testKey...), testKey...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := auth.NewSigner(tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewSigner(%d bytes) error = %v, want error %v", len(tt.key), err, tt.wantErr)
			}
			if err == nil && s == nil {
				t.Fatal("NewSigner returned nil, nil")
			}
		})
	}
}

func TestSignerIssueVerify(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	before := time.Now()
	tok, exp, err := s.Issue("s123", "alice", "phone", 15*time.Minute)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	if d := exp.Sub(before); d < 15*time.Minute || d > 15*time.Minute+5*time.Second {
		t.Errorf("expiry %v is not 15m after issue", d)
	}
	if !auth.IsParleyToken(tok) {
		t.Error("IsParleyToken(issued token) = false")
	}
	c, err := s.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := auth.Claims{User: "alice", Device: "phone", Session: "s123"}
	if c.User != want.User || c.Device != want.Device || c.Session != want.Session || c.External {
		t.Errorf("claims = %+v, want %+v", c, want)
	}
	// JWT times have second precision.
	if d := c.ExpiresAt.Sub(exp); d > time.Second || d < -time.Second {
		t.Errorf("ExpiresAt = %v, want about %v", c.ExpiresAt, exp)
	}
}

func TestSignerIssueWithoutDevice(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	tok, _, err := s.Issue("s1", "bob", "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.User != "bob" || c.Device != "" {
		t.Errorf("claims = %+v, want user bob and no device", c)
	}
}

func TestSignerVerifyRefuses(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	otherKey := []byte("ffffffffffffffffffffffffffffffff")
	good, _, err := s.Issue("s1", "alice", "phone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := s.Issue("s1", "alice", "phone", -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	fromOther, _, err := newSigner(t, otherKey).Issue("s1", "alice", "phone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// tampered: the payload says mallory, the signature is alice's.
	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(payload), `"sub":"alice"`, `"sub":"mallory"`, 1)
	if forged == string(payload) {
		t.Fatalf("payload %s has no sub to tamper with", payload)
	}
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not.a.jwt"},
		{"two parts", parts[0] + "." + parts[1]},
		{"expired", expired},
		{"wrong key", fromOther},
		{"tampered payload", tampered},
		{"signature stripped", parts[0] + "." + parts[1] + "."},
		{"alg none", sign(t, jwt.SigningMethodNone, parleyClaims(nil), jwt.UnsafeAllowNoneSignatureType)},
		{"HS384 with the right key", sign(t, jwt.SigningMethodHS384, parleyClaims(nil), testKey)},
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, parleyClaims(nil), testKey)},
		{"wrong issuer", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { c["iss"] = "someone-else" }), testKey)},
		{"no issuer", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { delete(c, "iss") }), testKey)},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { c["aud"] = "someone-else" }), testKey)},
		{"no audience", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { delete(c, "aud") }), testKey)},
		{"no expiry", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { delete(c, "exp") }), testKey)},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), testKey)},
		{"missing sid", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { delete(c, "sid") }), testKey)},
		{"empty sid", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { c["sid"] = "" }), testKey)},
		{"missing sub", sign(t, jwt.SigningMethodHS256, parleyClaims(func(c jwt.MapClaims) { delete(c, "sub") }), testKey)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := s.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", c)
			}
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("error %v does not wrap ErrInvalidToken", err)
			}
			if c != (auth.Claims{}) {
				t.Errorf("refused token returned claims %+v", c)
			}
		})
	}
}

// TestSignerVerifyAcceptsHandMade checks that the refusals above are not
// vacuous: the same hand-made claims, unmodified, verify.
func TestSignerVerifyAcceptsHandMade(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	c, err := s.Verify(sign(t, jwt.SigningMethodHS256, parleyClaims(nil), testKey))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.User != "alice" || c.Session != "s1" || c.Device != "phone" {
		t.Errorf("claims = %+v", c)
	}
}

func TestIsParleyToken(t *testing.T) {
	t.Parallel()
	s := newSigner(t, testKey)
	own, _, err := s.Issue("s1", "alice", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	hdr := enc(map[string]string{"alg": "HS256", "typ": "JWT"})
	tests := []struct {
		name  string
		token string
		want  bool
	}{
		{"issued by Signer", own, true},
		{"hand-made parley issuer", hdr + "." + enc(map[string]string{"iss": "parley", "sub": "a"}) + ".sig", true},
		{"external issuer", sign(t, jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://app.example", "sub": "a"}, testKey), false},
		{"issuer with parley prefix", hdr + "." + enc(map[string]string{"iss": "parley-app"}) + ".sig", false},
		{"issuer with parley suffix", hdr + "." + enc(map[string]string{"iss": "my-parley"}) + ".sig", false},
		{"no issuer", hdr + "." + enc(map[string]string{"sub": "parley"}) + ".sig", false},
		{"parley as another claim", hdr + "." + enc(map[string]string{"aud": "parley"}) + ".sig", false},
		{"empty", "", false},
		{"one part", "abc", false},
		{"four parts", own + ".x", false},
		{"payload not base64", hdr + ".!!!.sig", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := auth.IsParleyToken(tt.token); got != tt.want {
				t.Errorf("IsParleyToken(%q) = %v, want %v", tt.token, got, tt.want)
			}
		})
	}
}

func TestRefreshToken(t *testing.T) {
	t.Parallel()
	for _, session := range []string{"s0123456789abcdef", auth.NewSessionID(), "with.dots.in.it"} {
		t.Run(session, func(t *testing.T) {
			t.Parallel()
			tok, hash, err := auth.NewRefreshToken(session)
			if err != nil {
				t.Fatalf("NewRefreshToken: %v", err)
			}
			if !strings.HasPrefix(tok, session+".") {
				t.Errorf("token %q does not start with %q", tok, session+".")
			}
			if len(tok) < len(session)+1+43 { // 32 random bytes, base64url
				t.Errorf("token %q has a short secret", tok)
			}
			if hash != auth.HashRefresh(tok) {
				t.Errorf("returned hash %q != HashRefresh(token) %q", hash, auth.HashRefresh(tok))
			}
			if strings.Contains(hash, tok) || strings.Contains(tok, hash) {
				t.Error("hash and token overlap")
			}
			got, ok := auth.SessionOfRefresh(tok)
			if !ok || got != session {
				t.Errorf("SessionOfRefresh(%q) = %q, %v; want %q, true", tok, got, ok, session)
			}
			tok2, hash2, err := auth.NewRefreshToken(session)
			if err != nil {
				t.Fatal(err)
			}
			if tok2 == tok || hash2 == hash {
				t.Error("two refresh tokens of one session are equal")
			}
		})
	}
}

func TestHashRefresh(t *testing.T) {
	t.Parallel()
	h := auth.HashRefresh("s1.secret")
	if h != auth.HashRefresh("s1.secret") {
		t.Error("HashRefresh is not deterministic")
	}
	if h == auth.HashRefresh("s1.secreT") {
		t.Error("HashRefresh collides on a one-letter change")
	}
	if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
		t.Errorf("HashRefresh = %q, want 64 hex digits (SHA-256)", h)
	}
}

func TestSessionOfRefreshMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		token   string
		want    string
		wantOK  bool
		comment string
	}{
		{"", "", false, "empty"},
		{"nodot", "", false, "no separator"},
		{".secret", "", false, "empty session"},
		{"s1.", "s1", true, "empty secret still names a session (its hash will not match)"},
		{"a.b.c", "a.b", true, "the secret is the part after the last dot"},
	}
	for _, tt := range tests {
		got, ok := auth.SessionOfRefresh(tt.token)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("SessionOfRefresh(%q) = %q, %v; want %q, %v (%s)", tt.token, got, ok, tt.want, tt.wantOK, tt.comment)
		}
	}
}

func TestNewSessionID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := auth.NewSessionID()
		if len(id) != 33 || id[0] != 's' {
			t.Fatalf("NewSessionID() = %q, want \"s\" and 32 hex digits", id)
		}
		if _, err := hex.DecodeString(id[1:]); err != nil {
			t.Fatalf("NewSessionID() = %q: %v", id, err)
		}
		if strings.Contains(id, ".") {
			t.Fatalf("session id %q contains the refresh-token separator", id)
		}
		if seen[id] {
			t.Fatalf("NewSessionID repeated %q", id)
		}
		seen[id] = true
	}
}
