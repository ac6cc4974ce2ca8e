package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Parley's own tokens carry this issuer and audience.
const (
	Issuer   = "parley"
	Audience = "parley"
)

// ErrInvalidToken: the token is malformed, badly signed, expired or meant for
// someone else. The reason is wrapped for logs; clients only see 401.
var ErrInvalidToken = errors.New("invalid token")

// Claims are the claims of a verified token.
type Claims struct {
	User    string
	Device  string // empty if the token names no device
	Session string // empty for external tokens
	// External is true for a token signed by the application's backend.
	External  bool
	ExpiresAt time.Time
	// IssuedAt is the token's iat; zero if it has none.
	IssuedAt time.Time
}

type parleyClaims struct {
	Session string `json:"sid,omitempty"`
	Device  string `json:"dev,omitempty"`
	jwt.RegisteredClaims
}

// Signer issues and verifies Parley's own access tokens (HS256).
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a signer with key (at least 32 bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("signing key must be at least 32 bytes, got %d", len(key))
	}
	return &Signer{key: key, now: time.Now}, nil
}

// Issue returns an access token for the session, valid for ttl.
func (s *Signer) Issue(session, user, device string, ttl time.Duration) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(ttl)
	c := parleyClaims{
		Session: session,
		Device:  device,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   user,
			Audience:  jwt.ClaimStrings{Audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return tok, exp, nil
}

// Verify checks a Parley access token: signature (HS256 only, so "alg":"none"
// and algorithm confusion are refused), issuer, audience and expiry.
func (s *Signer) Verify(token string) (Claims, error) {
	var c parleyClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(Issuer), jwt.WithAudience(Audience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Subject == "" || c.Session == "" {
		return Claims{}, fmt.Errorf("%w: missing sub or sid", ErrInvalidToken)
	}
	return Claims{User: c.Subject, Device: c.Device, Session: c.Session, ExpiresAt: c.ExpiresAt.Time}, nil
}

// IsParleyToken reports whether an unverified token claims Parley as its
// issuer, so the caller knows which verifier to use.
func IsParleyToken(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	return strings.Contains(string(raw), `"iss":"`+Issuer+`"`)
}

// NewRefreshToken returns a refresh token for a session ("<session>.<secret>")
// and the hash to store.
func NewRefreshToken(session string) (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("read random: %w", err)
	}
	token = session + "." + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashRefresh(token), nil
}

// HashRefresh is the stored form of a refresh token.
func HashRefresh(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// SessionOfRefresh returns the session id named by a refresh token.
func SessionOfRefresh(token string) (string, bool) {
	i := strings.LastIndexByte(token, '.')
	if i <= 0 {
		return "", false
	}
	return token[:i], true
}

// NewSessionID returns a random session id.
func NewSessionID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return "s" + hex.EncodeToString(b[:])
}
