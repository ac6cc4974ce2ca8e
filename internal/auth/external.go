package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ExternalConfig configures verification of JWTs signed by an application's
// own backend, with the user id in "sub".
type ExternalConfig struct {
	HMACSecret     string
	PublicKeyFiles []string // PEM: RSA or ECDSA public keys or certificates
	JWKSFile       string   // a JSON Web Key Set with RSA or EC keys
	Issuer         string   // required "iss" if set
	Audience       string   // required "aud" if set
}

// External verifies application-signed JWTs.
type External struct {
	hmac    []byte
	keys    []crypto.PublicKey
	kids    map[string]crypto.PublicKey
	issuer  string
	aud     string
	methods []string
	now     func() time.Time
}

// NewExternal loads the configured keys. It returns nil, nil when nothing is
// configured.
func NewExternal(cfg ExternalConfig) (*External, error) {
	if cfg.HMACSecret == "" && len(cfg.PublicKeyFiles) == 0 && cfg.JWKSFile == "" {
		return nil, nil
	}
	e := &External{issuer: cfg.Issuer, aud: cfg.Audience, kids: map[string]crypto.PublicKey{}, now: time.Now}
	if cfg.HMACSecret != "" {
		if len(cfg.HMACSecret) < 32 {
			return nil, errors.New("external hmac secret must be at least 32 bytes")
		}
		e.hmac = []byte(cfg.HMACSecret)
		e.methods = append(e.methods, "HS256", "HS384", "HS512")
	}
	for _, f := range cfg.PublicKeyFiles {
		k, err := loadPEMKey(f)
		if err != nil {
			return nil, err
		}
		e.keys = append(e.keys, k)
	}
	if cfg.JWKSFile != "" {
		if err := e.loadJWKS(cfg.JWKSFile); err != nil {
			return nil, err
		}
	}
	if len(e.keys) > 0 || len(e.kids) > 0 {
		e.methods = append(e.methods, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
	}
	return e, nil
}

// Verify checks an application-signed token and returns its claims. The
// device comes from a "dev" claim if present.
func (e *External) Verify(token string) (Claims, error) {
	var c parleyClaims
	opts := []jwt.ParserOption{jwt.WithValidMethods(e.methods), jwt.WithExpirationRequired(), jwt.WithTimeFunc(e.now)}
	if e.issuer != "" {
		opts = append(opts, jwt.WithIssuer(e.issuer))
	}
	if e.aud != "" {
		opts = append(opts, jwt.WithAudience(e.aud))
	}
	var lastErr error
	for _, key := range e.candidates(token) {
		c = parleyClaims{}
		_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
			return keyFor(t, key)
		}, opts...)
		if err == nil {
			if c.Subject == "" {
				return Claims{}, fmt.Errorf("%w: missing sub", ErrInvalidToken)
			}
			out := Claims{User: c.Subject, Device: c.Device, External: true, ExpiresAt: c.ExpiresAt.Time}
			if c.IssuedAt != nil {
				out.IssuedAt = c.IssuedAt.Time
			}
			return out, nil
		}
		lastErr = err
	}
	if lastErr == nil {
		lastErr = errors.New("no key matches")
	}
	return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, lastErr)
}

// candidates lists the keys to try: the one named by "kid", else all.
func (e *External) candidates(token string) []any {
	var out []any
	if t, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{}); err == nil {
		if kid, ok := t.Header["kid"].(string); ok {
			if k, ok := e.kids[kid]; ok {
				return []any{k}
			}
		}
	}
	if e.hmac != nil {
		out = append(out, e.hmac)
	}
	for _, k := range e.keys {
		out = append(out, k)
	}
	for _, k := range e.kids {
		out = append(out, k)
	}
	return out
}

// keyFor returns key only if its type fits the token's algorithm, so an RSA
// public key can never be used as an HMAC secret (algorithm confusion).
func keyFor(t *jwt.Token, key any) (any, error) {
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if b, ok := key.([]byte); ok {
			return b, nil
		}
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		if k, ok := key.(*rsa.PublicKey); ok {
			return k, nil
		}
	case *jwt.SigningMethodECDSA:
		if k, ok := key.(*ecdsa.PublicKey); ok {
			return k, nil
		}
	}
	return nil, errors.New("key does not fit the algorithm")
}

func loadPEMKey(path string) (crypto.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("public key %s: no PEM block", path)
	}
	switch block.Type {
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key %s: %w", path, err)
		}
		return checkKey(path, cert.PublicKey)
	default:
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			if rk, err2 := x509.ParsePKCS1PublicKey(block.Bytes); err2 == nil {
				return rk, nil
			}
			return nil, fmt.Errorf("public key %s: %w", path, err)
		}
		return checkKey(path, k)
	}
}

func checkKey(path string, k any) (crypto.PublicKey, error) {
	switch k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("public key %s: only RSA and ECDSA keys are supported", path)
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (e *External) loadJWKS(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read jwks: %w", err)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("parse jwks %s: %w", path, err)
	}
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pk, err := k.publicKey()
		if err != nil {
			return fmt.Errorf("jwks %s key %d: %w", path, i, err)
		}
		kid := k.Kid
		if kid == "" {
			kid = fmt.Sprintf("#%d", i)
		}
		e.kids[kid] = pk
	}
	if len(e.kids) == 0 {
		return fmt.Errorf("jwks %s: no signing keys", path)
	}
	return nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	dec := base64.RawURLEncoding
	switch k.Kty {
	case "RSA":
		n, err1 := dec.DecodeString(k.N)
		e, err2 := dec.DecodeString(k.E)
		if err1 != nil || err2 != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := dec.DecodeString(k.X)
		y, err2 := dec.DecodeString(k.Y)
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad EC key")
		}
		pk := &ecdsa.PublicKey{Curve: curve, X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !curve.IsOnCurve(pk.X, pk.Y) {
			return nil, errors.New("EC point not on curve")
		}
		return pk, nil
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}
