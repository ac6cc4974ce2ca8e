package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/config"
)

// minAdminKey is the shortest auth.admin_key accepted, in bytes: the key
// is the admin API's only protection, so it must not be guessable.
const minAdminKey = 32

// Validate checks cfg as `parley serve` does before it opens anything:
// the rules of config.Validate, and what this build of parley supports
// and can load (store and bus drivers, key lengths, external token keys,
// TLS certificates). It returns every violation joined with errors.Join.
// Start runs it, and so does `parley config check`, so that a file the
// check passes is one that serve accepts.
func Validate(cfg config.Config) error {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	// Several nodes (the RabbitMQ bus) share one store and one token
	// signing key.
	if cfg.Bus.Driver == "rabbitmq" {
		if cfg.Store.Driver != "postgres" {
			bad("bus.driver", "rabbitmq connects several nodes, which need one store: set store.driver to postgres")
		}
		if cfg.Auth.SigningKey == "" {
			bad("auth.signing_key", "required with bus.driver rabbitmq: every node must sign and accept the same tokens (each data directory would generate a key of its own)")
		}
	}
	if k := cfg.Auth.SigningKey; k != "" && len(k) < 32 {
		bad("auth.signing_key", "must be at least 32 characters, is %d", len(k))
	}
	if k := cfg.Auth.AdminKey; k != "" && len(k) < minAdminKey {
		bad("auth.admin_key", "must be at least %d bytes, is %d (openssl rand -hex 32 makes one)", minAdminKey, len(k))
	}
	if a := cfg.Admin.Addr; a != "" {
		if _, port, err := net.SplitHostPort(a); err != nil {
			bad("admin.addr", "must be host:port, is %q", a)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("admin.addr", "port must be a number from 0 to 65535, is %q", port)
		}
	}
	if _, err := auth.NewExternal(externalConfig(cfg)); err != nil {
		bad("auth.external", "%v", err)
	}
	if cfg.HTTP.TLSCert != "" && cfg.HTTP.TLSKey != "" {
		if _, err := tls.LoadX509KeyPair(cfg.HTTP.TLSCert, cfg.HTTP.TLSKey); err != nil {
			bad("http.tls_cert", "%v", err)
		}
	}
	if cfg.MQTT.TLSAddr != "" && cfg.MQTT.TLSCert != "" && cfg.MQTT.TLSKey != "" {
		if _, err := tls.LoadX509KeyPair(cfg.MQTT.TLSCert, cfg.MQTT.TLSKey); err != nil {
			bad("mqtt.tls_cert", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// externalConfig is the verification of external tokens cfg configures.
func externalConfig(cfg config.Config) auth.ExternalConfig {
	e := cfg.Auth.External
	return auth.ExternalConfig{HMACSecret: e.HMACSecret, PublicKeyFiles: e.PublicKeyFiles,
		JWKSFile: e.JWKSFile, Issuer: e.Issuer, Audience: e.Audience}
}
