package cli_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/app"
	"github.com/parley-im/parley/internal/config"
)

var quiet = slog.New(slog.DiscardHandler)

// TestConfigCheckRefusesWhatServeRefuses: `parley config check` runs the
// validation of serve (app.Validate), not only the file's own rules: each
// file here passes config.Config.Validate, and both the check and a server
// started on it refuse it, naming the same key.
func TestConfigCheckRefusesWhatServeRefuses(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "absent.pem")
	tests := []struct {
		name, yaml, key string
	}{
		{"rabbitmq bus on sqlite", "bus:\n  driver: rabbitmq\n  rabbitmq_url: amqp://mq\nauth:\n  signing_key: 0123456789abcdef0123456789abcdef\n", "bus.driver"},
		{"rabbitmq bus without a signing key", "store:\n  driver: postgres\n  postgres_url: postgres://db/parley\nbus:\n  driver: rabbitmq\n  rabbitmq_url: amqp://mq\n", "auth.signing_key"},
		{"short signing key", "auth:\n  signing_key: too-short\n", "auth.signing_key"},
		{"short admin key", "auth:\n  admin_key: 0123456789abcdef0123456789abcde\n", "auth.admin_key"},
		{"bad admin address", "admin:\n  addr: localhost\n", "admin.addr"},
		{"short external secret", "auth:\n  external:\n    hmac_secret: short\n", "auth.external"},
		{"missing external key file", "auth:\n  external:\n    public_key_files: [" + missing + "]\n", "auth.external"},
		{"missing HTTP certificate", "http:\n  tls_cert: " + missing + "\n  tls_key: " + missing + "\n", "http.tls_cert"},
		{"missing MQTT certificate", "mqtt:\n  tls_addr: 127.0.0.1:0\n  tls_cert: " + missing + "\n  tls_key: " + missing + "\n", "mqtt.tls_cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "parley.yaml", tt.yaml)
			cfg, err := config.Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the file's own rules refuse it already (the case tests nothing): %v", err)
			}
			out, _, err := run(t, "config", "check", path)
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("config check: %v (printed %q), want an error naming %s", err, out, tt.key)
			}
			cfg.DataDir = t.TempDir()
			cfg.HTTP.Addr = "127.0.0.1:0"
			cfg.MQTT.Addr = "127.0.0.1:0"
			a, err := app.Start(context.Background(), cfg, quiet)
			if err == nil {
				a.Shutdown(context.Background())
				t.Fatal("serve accepted it")
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("serve refused it with %q, which does not name %s", err, tt.key)
			}
		})
	}
}
