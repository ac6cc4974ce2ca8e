package config

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := Load(writeConfig(t, string(DefaultYAML())), nil)
	if err != nil {
		t.Fatalf("loading DefaultYAML: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(c, want) {
		t.Fatalf("DefaultYAML loads as\n%+v\nwant Default()\n%+v", c, want)
	}
}

// TestGeneratedYAMLOtherValues checks that the generator round-trips any
// values, with lists and quoting, not only the defaults.
func TestGeneratedYAMLOtherValues(t *testing.T) {
	t.Parallel()
	c := Default()
	c.DataDir = "#not a comment"
	c.HTTP.AllowedOrigins = []string{"https://a.example", "yes", "null"}
	c.Auth.AdminKey = "  spaces: and \"quotes\" "
	c.Auth.External.Issuer = "0123"
	c.Auth.AccessTTL = 90*time.Minute + 500*time.Millisecond
	c.Auth.AllowRegistration = false
	c.Store.Unsafe = true
	c.Limits.MaxMessageBytes = 1
	var b bytes.Buffer
	writeSection(&b, reflect.ValueOf(&c).Elem(), nil)
	got, err := Load(writeConfig(t, b.String()), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("loaded\n%+v\nwant\n%+v\nfrom\n%s", got, c, b.String())
	}
}

func TestEveryFieldDocumented(t *testing.T) {
	t.Parallel()
	out := string(DefaultYAML())
	c := Default()
	n := 0
	walkFields(reflect.ValueOf(&c).Elem(), nil, func(f field) {
		n++
		if strings.TrimSpace(f.doc) == "" {
			t.Errorf("%s has no doc tag", f.key())
		}
		indent := strings.Repeat("  ", len(f.path)-1)
		if !strings.Contains(out, "\n"+indent+f.path[len(f.path)-1]+":") {
			t.Errorf("DefaultYAML has no line for %s", f.key())
		}
		if !f.isSection() && !strings.Contains(out, f.envName()+".") {
			t.Errorf("DefaultYAML does not name %s", f.envName())
		}
	})
	// Every key line must follow a comment line.
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "- ") {
			continue
		}
		if i == 0 || !strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
			t.Errorf("line %d %q has no comment above it", i+1, line)
		}
		if len(line) > commentWidth {
			t.Errorf("line %d is %d columns wide", i+1, len(line))
		}
	}
	if n < 40 {
		t.Errorf("walked %d fields, expected the whole struct", n)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		15 * time.Minute:        "15m",
		720 * time.Hour:         "720h",
		90 * time.Minute:        "1h30m",
		200 * time.Millisecond:  "200ms",
		10 * time.Second:        "10s",
		time.Hour + time.Second: "1h0m1s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // keys the error must name; empty means valid
	}{
		{"zero duration", func(c *Config) { c.Timeouts.AuthDeadline = 0 }, []string{"timeouts.auth_deadline"}},
		{"negative duration", func(c *Config) { c.Auth.AccessTTL = -time.Second }, []string{"auth.access_ttl"}},
		{"every duration", func(c *Config) { c.Timeouts = Timeouts{} }, []string{
			"timeouts.auth_deadline", "timeouts.ping_interval", "timeouts.pong_timeout", "timeouts.write_timeout",
			"timeouts.lame_duck", "timeouts.shutdown_grace", "timeouts.ack_flush_interval",
			"timeouts.presence_coalesce", "timeouts.device_expiry"}},
		{"refresh shorter than access", func(c *Config) { c.Auth.RefreshTTL = time.Minute }, []string{"auth.refresh_ttl"}},
		{"frame not above message", func(c *Config) { c.Limits.MaxFrameBytes = c.Limits.MaxMessageBytes }, []string{"limits.max_frame_bytes"}},
		{"zero limit", func(c *Config) { c.Limits.OutboundQueueMessages = 0 }, []string{"limits.outbound_queue_messages"}},
		{"negative limit", func(c *Config) { c.Limits.JSONMaxDepth = -1 }, []string{"limits.json_max_depth"}},
		{"every limit", func(c *Config) { c.Limits = Limits{} }, []string{
			"limits.max_message_bytes", "limits.max_frame_bytes", "limits.history_page_max",
			"limits.outbound_queue_messages", "limits.outbound_queue_bytes", "limits.json_max_depth",
			"limits.max_consecutive_errors", "limits.devices_per_user", "limits.blocks_per_user", "limits.group_members",
			"limits.broadcast_recipients", "limits.broadcast_lists_per_user"}},
		{"password hashing: one per core, no wait", func(c *Config) { c.Auth.PasswordConcurrency, c.Auth.PasswordWait = 0, 0 },
			[]string{"auth.password_wait"}},
		{"negative password concurrency", func(c *Config) { c.Auth.PasswordConcurrency = -1 }, []string{"auth.password_concurrency"}},
		{"history page too large", func(c *Config) { c.Limits.HistoryPageMax = 1001 }, []string{"limits.history_page_max"}},
		{"history page at maximum", func(c *Config) { c.Limits.HistoryPageMax = 1000 }, nil},
		{"unknown store driver", func(c *Config) { c.Store.Driver = "mysql" }, []string{"store.driver"}},
		{"postgres without url", func(c *Config) { c.Store.Driver = "postgres" }, []string{"store.postgres_url"}},
		{"postgres with url", func(c *Config) { c.Store.Driver, c.Store.PostgresURL = "postgres", "postgres://db/parley" }, nil},
		{"unknown bus driver", func(c *Config) { c.Bus.Driver = "kafka" }, []string{"bus.driver"}},
		{"rabbitmq without url", func(c *Config) { c.Bus.Driver = "rabbitmq" }, []string{"bus.rabbitmq_url"}},
		{"rabbitmq with url", func(c *Config) { c.Bus.Driver, c.Bus.RabbitMQURL = "rabbitmq", "amqp://mq" }, nil},
		{"bad log level", func(c *Config) { c.Log.Level = "verbose" }, []string{"log.level"}},
		{"log level any case", func(c *Config) { c.Log.Level = "WARN" }, nil},
		{"bad log format", func(c *Config) { c.Log.Format = "xml" }, []string{"log.format"}},
		{"tls cert without key", func(c *Config) { c.HTTP.TLSCert = "cert.pem" }, []string{"http.tls_cert"}},
		{"tls key without cert", func(c *Config) { c.HTTP.TLSKey = "key.pem" }, []string{"http.tls_cert"}},
		{"tls both", func(c *Config) { c.HTTP.TLSCert, c.HTTP.TLSKey = "cert.pem", "key.pem" }, nil},
		{"zero header timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = 0 }, []string{"http.read_header_timeout"}},
		{"http addr without port", func(c *Config) { c.HTTP.Addr = "localhost" }, []string{"http.addr"}},
		{"http addr bad port", func(c *Config) { c.HTTP.Addr = "localhost:http" }, []string{"http.addr"}},
		{"http addr port too large", func(c *Config) { c.HTTP.Addr = ":65536" }, []string{"http.addr"}},
		{"mqtt addr empty turns tcp off", func(c *Config) { c.MQTT.Addr = "" }, nil},
		{"mqtt tls addr without cert", func(c *Config) { c.MQTT.TLSAddr = "127.0.0.1:0" }, []string{"mqtt.tls_addr"}},
		{"mqtt packet limit below message limit", func(c *Config) { c.MQTT.MaxPacketBytes = 1024 }, []string{"mqtt.max_packet_bytes"}},
		{"addr any interface, port 0", func(c *Config) { c.HTTP.Addr, c.MQTT.Addr = ":0", "[::1]:1883" }, nil},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, []string{"data_dir"}},
		{"bad origin", func(c *Config) { c.HTTP.AllowedOrigins = []string{"https://a b"} }, []string{"http.allowed_origins"}},
		{"trusted proxies", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "fd00::/8"} }, nil},
		{"bad trusted proxy", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/8", "lb.example"} }, []string{"http.trusted_proxies"}},
		{"zero send rate", func(c *Config) { c.RateLimits.SendsPerUserPerSecond = 0 }, []string{"rate_limits.sends_per_user_per_second"}},
		{"zero connection limit and ban", func(c *Config) { c.RateLimits.ConnectionsPerUser, c.RateLimits.FlappingBan = 0, 0 },
			[]string{"rate_limits.connections_per_user", "rate_limits.flapping_ban"}},
		{"friends-only by default", func(c *Config) { c.Social.InboundDefault = "friends" }, nil},
		{"bad inbound default", func(c *Config) { c.Social.InboundDefault = "everyone" }, []string{"social.inbound_default"}},
		{"zero friend requests", func(c *Config) { c.RateLimits.FriendRequestsPerUserPerHour = 0 }, []string{"rate_limits.friend_requests_per_user_per_hour"}},
		{"zero follows per user", func(c *Config) { c.Moments.FollowsPerUser = 0 }, []string{"moments.follows_per_user"}},
		{"moments larger than messages are lowered, not refused", func(c *Config) { c.Moments.MaxMomentBytes = c.Limits.MaxMessageBytes }, nil},
		{"friends-only group adds by default", func(c *Config) { c.Social.GroupAddDefault = "friends" }, nil},
		{"bad group_add default", func(c *Config) { c.Social.GroupAddDefault = "nobody" }, []string{"social.group_add_default"}},
		{"zero group members", func(c *Config) { c.Limits.GroupMembers = 0 }, []string{"limits.group_members"}},
		{"zero invitations", func(c *Config) { c.RateLimits.GroupInvitesPerUserPerHour = 0 }, []string{"rate_limits.group_invites_per_user_per_hour"}},
		{"broadcasts beyond a frame", func(c *Config) { c.Limits.BroadcastRecipients, c.RateLimits.BroadcastCopiesPerUserPerHour = 1001, 5000 },
			[]string{"limits.broadcast_recipients"}},
		{"broadcast budget below one broadcast", func(c *Config) { c.RateLimits.BroadcastCopiesPerUserPerHour = 999 },
			[]string{"rate_limits.broadcast_copies_per_user_per_hour"}},
		{"retention off", func(c *Config) { c.Retention.MaxAge = 0 }, nil},
		{"retention set", func(c *Config) { c.Retention.MaxAge = 720 * time.Hour }, nil},
		{"negative retention", func(c *Config) { c.Retention.MaxAge = -time.Hour }, []string{"retention.max_age"}},
		{"zero retention check", func(c *Config) { c.Retention.CheckInterval = 0 }, []string{"retention.check_interval"}},
		{"several problems joined", func(c *Config) {
			c.Store.Driver, c.Bus.Driver, c.Log.Format = "x", "y", "z"
		}, []string{"store.driver", "bus.driver", "log.format"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors naming %q", tt.want)
			}
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) || len(joined.Unwrap()) != len(tt.want) {
				t.Errorf("want %d joined errors, got %v", len(tt.want), err)
			}
			for _, key := range tt.want {
				if !strings.Contains(err.Error(), key+":") {
					t.Errorf("error %q does not name %s", err, key)
				}
			}
		})
	}
}

func TestSQLitePath(t *testing.T) {
	t.Parallel()
	c := Default()
	c.DataDir = "/var/lib/parley"
	if got, want := c.SQLitePath(), filepath.Join("/var/lib/parley", "parley.db"); got != want {
		t.Errorf("SQLitePath() = %q, want %q", got, want)
	}
	c.Store.SQLitePath = "/tmp/x.db"
	if got := c.SQLitePath(); got != "/tmp/x.db" {
		t.Errorf("SQLitePath() = %q, want the explicit path", got)
	}
}

func TestSlogLevel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn,
		"error": slog.LevelError, "bogus": slog.LevelInfo,
	} {
		if got := (Log{Level: in}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", in, got, want)
		}
	}
}
