package proc

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// mqttAddrPatterns find the MQTT listener's address in what the server
// printed: the banner ("parley MQTT on mqtt://ADDR (topics ...") or the
// start log line ("parley started ... mqtt=ADDR", text or JSON handler).
var mqttAddrPatterns = []*regexp.Regexp{
	regexp.MustCompile(`parley MQTT on mqtt://(\S+)`),
	regexp.MustCompile(`parley started.*\bmqtt=("?)([^\s"]+)`),
	regexp.MustCompile(`"msg":"parley started".*"mqtt":"([^"]+)"`),
}

// parseMQTTAddr returns the MQTT over TCP address in server output.
func parseMQTTAddr(out string) (string, bool) {
	for _, re := range mqttAddrPatterns {
		m := re.FindStringSubmatch(out)
		if m == nil {
			continue
		}
		a := m[len(m)-1]
		if a != "" && strings.Contains(a, ":") {
			return a, true
		}
	}
	return "", false
}

// MQTTAddr waits (up to 10 s) for the server's MQTT address in its log
// (StartServer copies the server's standard output there).
func MQTTAddr(s *Server) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(s.LogPath)
		if err == nil {
			if a, ok := parseMQTTAddr(string(b)); ok {
				return a, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no MQTT address in the server's output (%s); is this binary built with the MQTT gateway?", s.LogPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
