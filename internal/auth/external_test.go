package auth_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parley-im/parley/internal/auth"
)

// hmacSecret is a valid external HMAC secret (32 bytes).
const hmacSecret = "app-backend-shared-secret-0123456"

// Keys are generated once per test binary: RSA generation is slow under -race.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	ecKey2   *ecdsa.PrivateKey
)

func keys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecKey2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// appClaims are the claims of an application token for alice, valid for an
// hour; mutate adjusts them.
func appClaims(mutate func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
	if mutate != nil {
		mutate(c)
	}
	return c
}

// signKid signs with a "kid" header.
func signKid(t *testing.T, method jwt.SigningMethod, kid string, claims jwt.Claims, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pkixPEM encodes a public key as a "PUBLIC KEY" PEM block.
func pkixPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// ecJWK describes an EC public key as a JWK.
func ecJWK(t *testing.T, kid string, pub *ecdsa.PublicKey) map[string]string {
	t.Helper()
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	n := (len(raw) - 1) / 2
	return map[string]string{"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
		"x": b64url(raw[1 : 1+n]), "y": b64url(raw[1+n:])}
}

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "n": b64url(pub.N.Bytes()),
		"e": b64url(big.NewInt(int64(pub.E)).Bytes())}
}

func jwksFile(t *testing.T, keys ...map[string]string) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "jwks.json", b)
}

func newExternal(t *testing.T, cfg auth.ExternalConfig) *auth.External {
	t.Helper()
	e, err := auth.NewExternal(cfg)
	if err != nil {
		t.Fatalf("NewExternal: %v", err)
	}
	if e == nil {
		t.Fatal("NewExternal returned nil for a configured verifier")
	}
	return e
}

// mustVerify verifies token and checks the user.
func mustVerify(t *testing.T, e *auth.External, token, user string) auth.Claims {
	t.Helper()
	c, err := e.Verify(token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.User != user || !c.External || c.Session != "" {
		t.Fatalf("claims = %+v, want external user %s without a session", c, user)
	}
	return c
}

func mustRefuse(t *testing.T, e *auth.External, token string) {
	t.Helper()
	c, err := e.Verify(token)
	if err == nil {
		t.Fatalf("Verify accepted the token: %+v", c)
	}
	if !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("error %v does not wrap ErrInvalidToken", err)
	}
}

func TestNewExternalUnconfigured(t *testing.T) {
	t.Parallel()
	e, err := auth.NewExternal(auth.ExternalConfig{Issuer: "x", Audience: "y"})
	if err != nil || e != nil {
		t.Fatalf("NewExternal(no keys) = %v, %v; want nil, nil", e, err)
	}
}

func TestNewExternalRefuses(t *testing.T) {
	t.Parallel()
	keys(t)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  func(t *testing.T) auth.ExternalConfig
		want string // a piece of the error
	}{
		{"hmac secret of 31 bytes", func(*testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{HMACSecret: hmacSecret[:31]}
		}, "at least 32 bytes"},
		{"missing key file", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{PublicKeyFiles: []string{filepath.Join(t.TempDir(), "absent.pem")}}
		}, "read public key"},
		{"key file without PEM", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{PublicKeyFiles: []string{writeFile(t, "k.pem", []byte("not pem"))}}
		}, "no PEM block"},
		{"ed25519 key", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{PublicKeyFiles: []string{writeFile(t, "k.pem", pkixPEM(t, edPub))}}
		}, "only RSA and ECDSA"},
		{"garbage DER", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{PublicKeyFiles: []string{writeFile(t, "k.pem",
				pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("garbage")}))}}
		}, "k.pem"},
		{"missing jwks", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{JWKSFile: filepath.Join(t.TempDir(), "absent.json")}
		}, "read jwks"},
		{"jwks not JSON", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{JWKSFile: writeFile(t, "jwks.json", []byte("{"))}
		}, "parse jwks"},
		{"jwks without keys", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{JWKSFile: jwksFile(t)}
		}, "no signing keys"},
		{"jwks with encryption keys only", func(t *testing.T) auth.ExternalConfig {
			k := ecJWK(t, "enc", &ecKey.PublicKey)
			k["use"] = "enc"
			return auth.ExternalConfig{JWKSFile: jwksFile(t, k)}
		}, "no signing keys"},
		{"jwks unknown curve", func(t *testing.T) auth.ExternalConfig {
			k := ecJWK(t, "k", &ecKey.PublicKey)
			k["crv"] = "secp256k1"
			return auth.ExternalConfig{JWKSFile: jwksFile(t, k)}
		}, "unsupported curve"},
		{"jwks point off the curve", func(t *testing.T) auth.ExternalConfig {
			k := ecJWK(t, "k", &ecKey.PublicKey)
			k["y"] = k["x"]
			return auth.ExternalConfig{JWKSFile: jwksFile(t, k)}
		}, "not on curve"},
		{"jwks unknown key type", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{JWKSFile: jwksFile(t, map[string]string{"kty": "oct", "k": "c2VjcmV0"})}
		}, "unsupported key type"},
		{"jwks RSA without modulus", func(t *testing.T) auth.ExternalConfig {
			return auth.ExternalConfig{JWKSFile: jwksFile(t, map[string]string{"kty": "RSA", "e": "AQAB"})}
		}, "bad RSA key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := auth.NewExternal(tt.cfg(t))
			if err == nil {
				t.Fatalf("NewExternal succeeded: %+v", e)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestExternalHMAC(t *testing.T) {
	t.Parallel()
	e := newExternal(t, auth.ExternalConfig{HMACSecret: hmacSecret})
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
		t.Run(m.Alg(), func(t *testing.T) {
			t.Parallel()
			c := mustVerify(t, e, sign(t, m, appClaims(func(c jwt.MapClaims) { c["dev"] = "web" }), []byte(hmacSecret)), "alice")
			if c.Device != "web" {
				t.Errorf("device = %q, want the dev claim web", c.Device)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name  string
			token string
		}{
			{"wrong secret", sign(t, jwt.SigningMethodHS256, appClaims(nil), []byte(strings.ToUpper(hmacSecret)))},
			{"expired", sign(t, jwt.SigningMethodHS256, appClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), []byte(hmacSecret))},
			{"no expiry", sign(t, jwt.SigningMethodHS256, appClaims(func(c jwt.MapClaims) { delete(c, "exp") }), []byte(hmacSecret))},
			{"no sub", sign(t, jwt.SigningMethodHS256, appClaims(func(c jwt.MapClaims) { delete(c, "sub") }), []byte(hmacSecret))},
			{"alg none", sign(t, jwt.SigningMethodNone, appClaims(nil), jwt.UnsafeAllowNoneSignatureType)},
			{"garbage", "a.b.c"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) { mustRefuse(t, e, tt.token) })
		}
	})
}

func TestExternalRSAPEM(t *testing.T) {
	t.Parallel()
	keys(t)
	// The three PEM forms loadPEMKey reads: PKIX, PKCS#1 and a certificate.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "app"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rsaKey.PublicKey, rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string][]byte{
		"PKIX":        pkixPEM(t, &rsaKey.PublicKey),
		"PKCS1":       pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)}),
		"certificate": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
	}
	for name, data := range forms {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newExternal(t, auth.ExternalConfig{PublicKeyFiles: []string{writeFile(t, "key.pem", data)}})
			for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS256, jwt.SigningMethodRS512, jwt.SigningMethodPS256} {
				mustVerify(t, e, sign(t, m, appClaims(nil), rsaKey), "alice")
			}
			mustRefuse(t, e, sign(t, jwt.SigningMethodRS256, appClaims(nil), rsaKey2))
			mustRefuse(t, e, sign(t, jwt.SigningMethodRS256, appClaims(func(c jwt.MapClaims) {
				c["exp"] = time.Now().Add(-time.Minute).Unix()
			}), rsaKey))
			// No HMAC secret is configured: HS256 is not an accepted method at all.
			mustRefuse(t, e, sign(t, jwt.SigningMethodHS256, appClaims(nil), []byte(hmacSecret)))
		})
	}
}

// TestExternalAlgorithmConfusion: a token signed with HS256 using the
// server's RSA or ECDSA public key (which is public) as the HMAC secret
// must never verify, whether or not an HMAC secret is configured too.
func TestExternalAlgorithmConfusion(t *testing.T) {
	t.Parallel()
	keys(t)
	rsaPEM := pkixPEM(t, &rsaKey.PublicKey)
	ecPEM := pkixPEM(t, &ecKey.PublicKey)
	rsaDER, _ := pem.Decode(rsaPEM)
	ecRaw, err := ecKey.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	rsaFile := writeFile(t, "rsa.pem", rsaPEM)
	ecFile := writeFile(t, "ec.pem", ecPEM)
	jwks := jwksFile(t, rsaJWK("r1", &rsaKey.PublicKey), ecJWK(t, "e1", &ecKey.PublicKey))
	secrets := map[string][]byte{
		"rsa PEM": rsaPEM, "rsa DER": rsaDER.Bytes, "ec PEM": ecPEM, "ec point": ecRaw,
		"rsa modulus": rsaKey.PublicKey.N.Bytes(),
	}
	configs := map[string]auth.ExternalConfig{
		"pem files":             {PublicKeyFiles: []string{rsaFile, ecFile}},
		"pem files and hmac":    {PublicKeyFiles: []string{rsaFile, ecFile}, HMACSecret: hmacSecret},
		"jwks":                  {JWKSFile: jwks},
		"jwks and hmac":         {JWKSFile: jwks, HMACSecret: hmacSecret},
		"everything and issuer": {JWKSFile: jwks, PublicKeyFiles: []string{rsaFile}, HMACSecret: hmacSecret, Issuer: "app"},
	}
	for cname, cfg := range configs {
		e := newExternal(t, cfg)
		for sname, secret := range secrets {
			for _, kid := range []string{"", "r1", "e1"} {
				t.Run(cname+"/"+sname+"/kid="+kid, func(t *testing.T) {
					t.Parallel()
					claims := appClaims(func(c jwt.MapClaims) { c["iss"] = "app" })
					for _, m := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS384, jwt.SigningMethodHS512} {
						mustRefuse(t, e, signKid(t, m, kid, claims, secret))
					}
				})
			}
		}
	}
}

func TestExternalJWKS(t *testing.T) {
	t.Parallel()
	keys(t)
	noKid := ecJWK(t, "", &ecKey2.PublicKey)
	delete(noKid, "kid")
	path := jwksFile(t, ecJWK(t, "ec1", &ecKey.PublicKey), rsaJWK("rsa1", &rsaKey.PublicKey))
	e := newExternal(t, auth.ExternalConfig{JWKSFile: path})

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"ES256 with its kid", signKid(t, jwt.SigningMethodES256, "ec1", appClaims(nil), ecKey), true},
		{"RS256 with its kid", signKid(t, jwt.SigningMethodRS256, "rsa1", appClaims(nil), rsaKey), true},
		{"ES256 without kid: every key is tried", signKid(t, jwt.SigningMethodES256, "", appClaims(nil), ecKey), true},
		{"ES256 with an unknown kid: every key is tried", signKid(t, jwt.SigningMethodES256, "rotated-away", appClaims(nil), ecKey), true},
		// kid selection: the named key only, no fallback to the others.
		{"ES256 naming the RSA key's kid", signKid(t, jwt.SigningMethodES256, "rsa1", appClaims(nil), ecKey), false},
		{"RS256 naming the EC key's kid", signKid(t, jwt.SigningMethodRS256, "ec1", appClaims(nil), rsaKey), false},
		{"ES256 by an unknown key", signKid(t, jwt.SigningMethodES256, "ec1", appClaims(nil), ecKey2), false},
		{"ES256 by an unknown key without kid", signKid(t, jwt.SigningMethodES256, "", appClaims(nil), ecKey2), false},
		{"RS256 by an unknown key", signKid(t, jwt.SigningMethodRS256, "rsa1", appClaims(nil), rsaKey2), false},
		{"expired", signKid(t, jwt.SigningMethodES256, "ec1", appClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), ecKey), false},
		{"alg none with a kid", signKid(t, jwt.SigningMethodNone, "ec1", appClaims(nil), jwt.UnsafeAllowNoneSignatureType), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.ok {
				mustVerify(t, e, tt.token, "alice")
			} else {
				mustRefuse(t, e, tt.token)
			}
		})
	}

	t.Run("key without kid", func(t *testing.T) {
		t.Parallel()
		e := newExternal(t, auth.ExternalConfig{JWKSFile: jwksFile(t, noKid)})
		mustVerify(t, e, signKid(t, jwt.SigningMethodES256, "", appClaims(nil), ecKey2), "alice")
	})
	t.Run("encryption key skipped", func(t *testing.T) {
		t.Parallel()
		enc := ecJWK(t, "enc", &ecKey2.PublicKey)
		enc["use"] = "enc"
		e := newExternal(t, auth.ExternalConfig{JWKSFile: jwksFile(t, ecJWK(t, "sig", &ecKey.PublicKey), enc)})
		mustVerify(t, e, signKid(t, jwt.SigningMethodES256, "sig", appClaims(nil), ecKey), "alice")
		mustRefuse(t, e, signKid(t, jwt.SigningMethodES256, "enc", appClaims(nil), ecKey2))
	})
}

func TestExternalIssuerAudience(t *testing.T) {
	t.Parallel()
	keys(t)
	const iss, aud = "https://app.example", "parley-chat"
	e := newExternal(t, auth.ExternalConfig{
		HMACSecret: hmacSecret, PublicKeyFiles: []string{writeFile(t, "ec.pem", pkixPEM(t, &ecKey.PublicKey))},
		Issuer: iss, Audience: aud,
	})
	withIA := func(i, a any) jwt.MapClaims {
		return appClaims(func(c jwt.MapClaims) {
			if i != nil {
				c["iss"] = i
			}
			if a != nil {
				c["aud"] = a
			}
		})
	}
	tests := []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
	}{
		{"both right", withIA(iss, aud), true},
		{"audience in a list", withIA(iss, []string{"other", aud}), true},
		{"wrong issuer", withIA("https://evil.example", aud), false},
		{"issuer with trailing slash", withIA(iss+"/", aud), false},
		{"no issuer", withIA(nil, aud), false},
		{"wrong audience", withIA(iss, "other"), false},
		{"no audience", withIA(iss, nil), false},
		{"parley's own issuer", withIA(auth.Issuer, aud), false},
	}
	for _, tt := range tests {
		for _, alg := range []string{"HS256", "ES256"} {
			t.Run(tt.name+"/"+alg, func(t *testing.T) {
				t.Parallel()
				var tok string
				if alg == "HS256" {
					tok = sign(t, jwt.SigningMethodHS256, tt.claims, []byte(hmacSecret))
				} else {
					tok = sign(t, jwt.SigningMethodES256, tt.claims, ecKey)
				}
				if tt.ok {
					mustVerify(t, e, tok, "alice")
				} else {
					mustRefuse(t, e, tok)
				}
			})
		}
	}

	t.Run("unchecked when unset", func(t *testing.T) {
		t.Parallel()
		e := newExternal(t, auth.ExternalConfig{HMACSecret: hmacSecret})
		mustVerify(t, e, sign(t, jwt.SigningMethodHS256, withIA("anyone", "anything"), []byte(hmacSecret)), "alice")
	})
}

// TestExternalConcurrent verifies from many goroutines (run with -race).
func TestExternalConcurrent(t *testing.T) {
	t.Parallel()
	keys(t)
	e := newExternal(t, auth.ExternalConfig{HMACSecret: hmacSecret, JWKSFile: jwksFile(t, ecJWK(t, "ec1", &ecKey.PublicKey))})
	toks := []string{
		sign(t, jwt.SigningMethodHS256, appClaims(nil), []byte(hmacSecret)),
		signKid(t, jwt.SigningMethodES256, "ec1", appClaims(nil), ecKey),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			for range 20 {
				if _, err := e.Verify(toks[i%2]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
