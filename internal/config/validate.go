package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/internal/ratelimit"
)

// MaxHistoryPage is the largest value limits.history_page_max may take.
const MaxHistoryPage = 1000

// MaxMessageBytes is the largest value limits.max_message_bytes may take:
// one such message, escaped at worst, still fits the clients' default
// read limit of 16 MiB (docs/protocol.md §1.6, the largest frame).
const MaxMessageBytes = 2 << 20

// MaxBroadcastRecipients is the largest value limits.broadcast_recipients
// may take: the answer of a broadcast to that many stays below the largest
// frame (docs/protocol.md §1.6).
const MaxBroadcastRecipients = 1000

// zeroAllowed lists the durations and counts for which 0 means "off"; they
// must not be negative. Every other one must be positive.
var zeroAllowed = map[string]bool{
	"retention.max_age":         true,
	"store.commit_max_wait":     true,
	"auth.password_concurrency": true,
}

// Validate checks the rules a loaded configuration must keep and returns
// every violation joined with errors.Join, each naming its yaml key; nil
// means c is usable. Call it after Load and Flags.Apply.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	// Every duration and every count must be positive, except those for
	// which 0 means "off".
	for _, f := range leaves(c) {
		switch {
		case zeroAllowed[f.key()]:
			if f.value.Int() < 0 {
				bad(f.key(), "must not be negative (0 turns it off), is %s", formatValue(f.value))
			}
		case f.value.Type() == durationType && f.value.Int() <= 0:
			bad(f.key(), "must be a positive duration, is %s", formatValue(f.value))
		case f.value.Kind() == reflect.Int && f.value.Int() <= 0:
			bad(f.key(), "must be positive, is %d", f.value.Int())
		}
	}

	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}

	checkAddr(bad, "http.addr", c.HTTP.Addr)
	if c.MQTT.Addr != "" {
		checkAddr(bad, "mqtt.addr", c.MQTT.Addr)
	}
	if c.Debug.PprofAddr != "" {
		checkAddr(bad, "debug.pprof_addr", c.Debug.PprofAddr)
	}
	if c.MQTT.TLSAddr != "" {
		checkAddr(bad, "mqtt.tls_addr", c.MQTT.TLSAddr)
		if c.MQTT.TLSCert == "" || c.MQTT.TLSKey == "" {
			bad("mqtt.tls_addr", "needs mqtt.tls_cert and mqtt.tls_key")
		}
	}
	if (c.MQTT.TLSCert == "") != (c.MQTT.TLSKey == "") {
		bad("mqtt.tls_cert", "tls_cert and tls_key must be set together or not at all")
	}
	if c.MQTT.Root == "" || strings.ContainsAny(c.MQTT.Root, "/+#$\x00 ") {
		bad("mqtt.root", "must be one non-empty topic level without / + # $ or spaces, is %q", c.MQTT.Root)
	}
	if c.MQTT.MaxPacketBytes <= c.Limits.MaxMessageBytes {
		bad("mqtt.max_packet_bytes", "must be larger than limits.max_message_bytes (%d), is %d", c.Limits.MaxMessageBytes, c.MQTT.MaxPacketBytes)
	}
	if c.MQTT.ReceiveMaximum > 65535 {
		bad("mqtt.receive_maximum", "must be at most 65535, is %d", c.MQTT.ReceiveMaximum)
	}
	if c.MQTT.MaxKeepAlive > 65535*time.Second || c.MQTT.KeepAlive > c.MQTT.MaxKeepAlive {
		bad("mqtt.keepalive", "keepalive must not exceed max_keepalive, which must not exceed 65535s")
	}
	if (c.HTTP.TLSCert == "") != (c.HTTP.TLSKey == "") {
		bad("http.tls_cert", "tls_cert and tls_key must be set together or not at all")
	}
	for _, o := range c.HTTP.AllowedOrigins {
		if o == "" || strings.ContainsAny(o, " \t\r\n") {
			bad("http.allowed_origins", "invalid origin %q", o)
		}
	}
	for _, p := range c.HTTP.TrustedProxies {
		if _, err := ratelimit.ParseProxies([]string{p}); err != nil {
			bad("http.trusted_proxies", "%q is neither an IP address nor a CIDR prefix (such as 10.0.0.0/8)", p)
		}
	}

	if c.Limits.BroadcastRecipients > MaxBroadcastRecipients {
		bad("limits.broadcast_recipients", "must be at most %d, is %d", MaxBroadcastRecipients, c.Limits.BroadcastRecipients)
	}
	if c.RateLimits.BroadcastCopiesPerUserPerHour < c.Limits.BroadcastRecipients {
		bad("rate_limits.broadcast_copies_per_user_per_hour", "must be at least limits.broadcast_recipients (%d), or the largest broadcast could never pass; is %d",
			c.Limits.BroadcastRecipients, c.RateLimits.BroadcastCopiesPerUserPerHour)
	}

	if c.Store.CommitMaxWait > 100*time.Millisecond {
		bad("store.commit_max_wait", "must be at most 100ms (it delays acknowledgements), is %s", c.Store.CommitMaxWait)
	}

	switch c.Store.Driver {
	case "sqlite":
	case "postgres":
		if c.Store.PostgresURL == "" {
			bad("store.postgres_url", "required when store.driver is postgres")
		}
	default:
		bad("store.driver", "must be sqlite or postgres, is %q", c.Store.Driver)
	}

	switch c.Bus.Driver {
	case "local":
	case "rabbitmq":
		if c.Bus.RabbitMQURL == "" {
			bad("bus.rabbitmq_url", "required when bus.driver is rabbitmq")
		}
	default:
		bad("bus.driver", "must be local or rabbitmq, is %q", c.Bus.Driver)
	}

	if c.Auth.AccessTTL > 0 && c.Auth.RefreshTTL > 0 && c.Auth.RefreshTTL < c.Auth.AccessTTL {
		bad("auth.refresh_ttl", "must not be shorter than auth.access_ttl (%s)", formatDuration(c.Auth.AccessTTL))
	}

	if c.Limits.MaxMessageBytes > 0 && c.Limits.MaxFrameBytes <= c.Limits.MaxMessageBytes {
		bad("limits.max_frame_bytes", "must be larger than limits.max_message_bytes (%d), is %d",
			c.Limits.MaxMessageBytes, c.Limits.MaxFrameBytes)
	}
	if c.Limits.MaxMessageBytes > MaxMessageBytes {
		bad("limits.max_message_bytes", "must be at most %d, is %d", MaxMessageBytes, c.Limits.MaxMessageBytes)
	}
	if c.Limits.HistoryPageMax > MaxHistoryPage {
		bad("limits.history_page_max", "must be at most %d, is %d", MaxHistoryPage, c.Limits.HistoryPageMax)
	}

	if c.Social.InboundDefault != "anyone" && c.Social.InboundDefault != "friends" {
		bad("social.inbound_default", "must be anyone or friends, is %q", c.Social.InboundDefault)
	}
	if c.Social.GroupAddDefault != "anyone" && c.Social.GroupAddDefault != "friends" {
		bad("social.group_add_default", "must be anyone or friends, is %q", c.Social.GroupAddDefault)
	}
	if _, ok := logLevels[strings.ToLower(c.Log.Level)]; !ok {
		bad("log.level", "must be debug, info, warn or error, is %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "must be text or json, is %q", c.Log.Format)
	}
	return errors.Join(errs...)
}

// checkAddr reports addr unless it is host:port with a numeric port (the
// host may be empty, meaning every interface).
func checkAddr(bad func(key, format string, args ...any), key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		bad(key, "must be host:port, is %q", addr)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad(key, "port must be a number from 0 to 65535, is %q", port)
	}
}
