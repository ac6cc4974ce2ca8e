package proc

import (
	"testing"
)

func TestParseMQTTAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		out, want string
		ok        bool
	}{
		{"parley listening on http://127.0.0.1:40000 (WebSocket: /v1/ws, metrics: /metrics)\n" +
			"parley MQTT on mqtt://127.0.0.1:41883 (topics under IMS/, docs/mqtt.md)\n", "127.0.0.1:41883", true},
		{`time=2026-11-24T00:00:00Z level=INFO msg="parley started" http=127.0.0.1:1 mqtt=127.0.0.1:1883 mqtts="" data_dir=/x`, "127.0.0.1:1883", true},
		{`{"time":"x","level":"INFO","msg":"parley started","http":"127.0.0.1:1","mqtt":"[::1]:1883","mqtts":""}`, "[::1]:1883", true},
		{`level=INFO msg="parley started" http=127.0.0.1:1 mqtt="" mqtts=127.0.0.1:8883`, "", false},
		{"parley listening on http://127.0.0.1:40000\n", "", false},
	} {
		got, ok := parseMQTTAddr(tc.out)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseMQTTAddr(%q) = %q, %v; want %q, %v", tc.out, got, ok, tc.want, tc.ok)
		}
	}
}
