package app_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/app"
)

// TestBannerHintsOnlyWithoutUsers: the banner says how to create the first
// user only while there is none.
func TestBannerHintsOnlyWithoutUsers(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	a, err := app.Start(context.Background(), cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, a)
	banner := func() string {
		var b bytes.Buffer
		a.Banner(&b)
		return b.String()
	}
	if b := banner(); !strings.Contains(b, "create the first user") {
		t.Errorf("no user yet, and the banner does not say how to create one:\n%s", b)
	}
	if _, err := a.Core().CreateUser(context.Background(), "alice", "password-alice", ""); err != nil {
		t.Fatal(err)
	}
	if b := banner(); strings.Contains(b, "first user") || !strings.Contains(b, a.URL()) {
		t.Errorf("with a user, the banner still tells to create the first one (or lost its address):\n%s", b)
	}
}

// TestListenErrorsNameTheSetting: a listener that cannot bind names the
// setting that chose its address, and for MQTT what may hold the port.
func TestListenErrorsNameTheSetting(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testConfig(t)
	cfg.MQTT.Addr = taken.Addr().String()
	a, err := app.Start(context.Background(), cfg, quiet)
	if err == nil {
		shutdown(t, a)
		t.Fatal("Start succeeded with MQTT on a taken port")
	}
	for _, w := range []string{cfg.MQTT.Addr, "mqtt.addr", "--mqtt-addr", "Mosquitto", `mqtt.addr: ""`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	cfg = testConfig(t)
	cfg.HTTP.Addr = taken.Addr().String()
	if a, err = app.Start(context.Background(), cfg, quiet); err == nil {
		shutdown(t, a)
		t.Fatal("Start succeeded with HTTP on a taken port")
	}
	for _, w := range []string{cfg.HTTP.Addr, "http.addr", "--http-addr"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
