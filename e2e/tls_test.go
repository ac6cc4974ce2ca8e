package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/config"
	parley "github.com/parley-im/parley/sdk/go"
)

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "parley test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// The HTTP and WebSocket listener serves TLS from certificate files; clients
// chat over https and wss.
func TestTLSListener(t *testing.T) {
	t.Parallel()
	cert, key, pool := selfSigned(t)
	s := startServer(t, func(c *config.Config) { c.HTTP.TLSCert, c.HTTP.TLSKey = cert, key })
	s.user("alice")
	s.user("bob")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + s.app.Addr()
	ctx := ctxT(t)
	login := func(user string) string {
		tok, err := (&parley.API{BaseURL: base, HTTPClient: hc}).Login(ctx, user, "password-"+user, "phone")
		if err != nil {
			t.Fatalf("login over https: %v", err)
		}
		return tok.AccessToken
	}
	dial := func(user string) *parley.Client {
		c, err := parley.Dial(ctx, parley.Options{URL: base, Token: login(user), HTTPClient: hc})
		if err != nil {
			t.Fatalf("dial over wss: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	alice, bob := dial("alice"), dial("bob")
	if _, err := alice.Send(ctx, parley.SendOptions{To: "bob", Body: "over tls"}); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, bob, 1, 5*time.Second)[0]; m.Body != "over tls" {
		t.Fatalf("got %+v", m)
	}
	// Plain HTTP to the TLS port is refused.
	if resp, err := http.Get("http://" + s.app.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
}
