package main

import (
	"context"
	"encoding/json"
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

// mqttAddr waits (up to 10 s) for the server's MQTT address in its log
// (startServer copies the server's standard output there).
func mqttAddr(s *server) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(s.logPath)
		if err == nil {
			if a, ok := parseMQTTAddr(string(b)); ok {
				return a, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no MQTT address in the server's output (%s); is this binary built with the MQTT gateway?", s.logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// delivery is the part of a delivered message's JSON payload the harness
// reads.
type delivery struct {
	Conv string `json:"conv"`
	Seq  uint64 `json:"seq"`
	ID   string `json:"id"`
	From string `json:"from"`
	Body string `json:"body"`
}

func parseDelivery(b []byte) (delivery, error) {
	var d delivery
	err := json.Unmarshal(b, &d)
	return d, err
}

// percentileInt64 is percentile over sorted int64 values (nanoseconds).
func percentileNs(sorted []int64, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return time.Duration(sorted[min(max(i, 0), len(sorted)-1)])
}

// mqttUser is one harness user's connection parameters.
type mqttUser struct {
	user, device, password string
}

// connectMQTT connects users[i] for i in [lo, hi), concurrency at a time,
// and subscribes each to filters(i) at qos (no subscription if filters
// returns none). onPublish(i) gives the handler of connection i (nil: none).
func connectMQTT(ctx context.Context, addr string, keepalive time.Duration, users []mqttUser, out []*mqttClient, lo, hi, concurrency int,
	qos byte, filters func(i int) []string, onPublish func(i int) func(*mqttPub, time.Time)) error {
	return forEachLimited(ctx, hi-lo, concurrency, func(j int) error {
		i := lo + j
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		u := users[i]
		var h func(*mqttPub, time.Time)
		if onPublish != nil {
			h = onPublish(i)
		}
		c, err := dialMQTT(dctx, mqttDialOptions{Addr: addr, ClientID: u.device, User: u.user, Password: u.password,
			KeepAlive: keepalive, OnPublish: h})
		if err == nil && filters != nil {
			if fs := filters(i); len(fs) > 0 {
				if err = c.subscribe(dctx, qos, fs...); err != nil {
					c.close()
				}
			}
		}
		if err != nil {
			return fmt.Errorf("mqtt connection %d (%s/%s): %w", i, u.user, u.device, err)
		}
		out[i] = c
		return nil
	})
}

// checkNoFile raises RLIMIT_NOFILE and checks it covers need descriptors.
func checkNoFile(need int) (uint64, error) {
	limit, err := raiseNoFile()
	if err != nil {
		return 0, fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if limit < uint64(need)+256 {
		return limit, fmt.Errorf("RLIMIT_NOFILE hard limit %d is too low for %d connections", limit, need)
	}
	return limit, nil
}
