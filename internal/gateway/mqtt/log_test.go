package mqtt

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestLevelShift: the engine's warnings about a client's packet become
// debug lines (not shown at the default info level), and never carry the
// packet, whose payload is a user's message.
func TestLevelShift(t *testing.T) {
	pk := packets.Packet{TopicName: "IMS/p2p/bob", Payload: []byte("secret message body")}
	for _, tc := range []struct {
		level slog.Level
		want  bool
	}{{slog.LevelInfo, false}, {slog.LevelDebug, true}} {
		var buf bytes.Buffer
		log := slog.New(levelShift{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level})})
		log.Warn("error processing packet", "error", "malformed", "client", "alice/phone", "pk", pk)
		log.Debug("failed publishing packet", "packet", pk)
		out := buf.String()
		if got := strings.Contains(out, "error processing packet"); got != tc.want {
			t.Errorf("handler at %v: line written %v, want %v: %q", tc.level, got, tc.want, out)
		}
		if strings.Contains(out, "secret") || strings.Contains(out, "IMS/p2p") {
			t.Errorf("handler at %v: the packet was logged: %q", tc.level, out)
		}
		if tc.want && (!strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "client=alice/phone") || !strings.Contains(out, "component=mqtt-engine")) {
			t.Errorf("handler at %v: %q, want a DEBUG line with the client and component", tc.level, out)
		}
	}
}
