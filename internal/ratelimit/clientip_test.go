package ratelimit

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestParseProxies(t *testing.T) {
	t.Parallel()
	p, err := ParseProxies([]string{"10.0.0.0/8", " 192.0.2.7 ", "fd00::/8", "::ffff:198.51.100.0/120", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.1.2.3": true, "11.0.0.1": false, "192.0.2.7": true, "192.0.2.8": false,
		"fd12::1": true, "fe80::1": false, "198.51.100.9": true, "::ffff:10.9.9.9": true,
		"2001:db8::1": true, "2001:db8::2": false,
	} {
		if got := p.Trusted(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Trusted(%s) = %v, want %v", addr, got, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "proxy.example", "10.0.0.1:80", "fe80::1%eth0"} {
		if _, err := ParseProxies([]string{bad}); err == nil {
			t.Errorf("ParseProxies(%q) accepted", bad)
		}
	}
	if p, err := ParseProxies(nil); p != nil || err != nil {
		t.Errorf("ParseProxies(nil) = %v, %v; want nil, nil", p, err)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		proxies *Proxies
		remote  string
		xff     []string // X-Forwarded-For header lines
		want    string
	}{
		{"no proxy, no header", proxies, "192.0.2.1:5000", nil, "192.0.2.1"},
		{"untrusted peer: spoofed header ignored", proxies, "192.0.2.1:5000", []string{"203.0.113.9"}, "192.0.2.1"},
		{"untrusted peer claiming a proxy's address", proxies, "192.0.2.1:5000", []string{"10.0.0.1"}, "192.0.2.1"},
		{"no proxies configured: header ignored", nil, "10.0.0.1:5000", []string{"203.0.113.9"}, "10.0.0.1"},
		{"trusted peer, one hop", proxies, "10.0.0.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted peer, no header", proxies, "10.0.0.1:5000", nil, "10.0.0.1"},
		{"trusted peer, empty header", proxies, "10.0.0.1:5000", []string{""}, "10.0.0.1"},
		{"client-written entries left of the client are ignored", proxies, "10.0.0.1:5000",
			[]string{"1.1.1.1, 2.2.2.2, 203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", proxies, "10.0.0.1:5000", []string{"198.51.100.4, 10.0.0.3, 10.0.0.2"}, "198.51.100.4"},
		{"spoofed proxy address left of the real client", proxies, "10.0.0.1:5000",
			[]string{"10.9.9.9, 203.0.113.9"}, "203.0.113.9"},
		{"several header lines form one list", proxies, "10.0.0.1:5000", []string{"1.1.1.1", "203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"all hops trusted: the leftmost", proxies, "10.0.0.1:5000", []string{"10.0.0.5, 10.0.0.2"}, "10.0.0.5"},
		{"garbage entry: the last trusted hop", proxies, "10.0.0.1:5000", []string{"203.0.113.9, garbage, 10.0.0.2"}, "10.0.0.2"},
		{"garbage from the proxy itself: the peer", proxies, "10.0.0.1:5000", []string{"not-an-ip"}, "10.0.0.1"},
		{"entries with ports", proxies, "10.0.0.1:5000", []string{"203.0.113.9:1234"}, "203.0.113.9"},
		{"IPv6 entries", proxies, "[2001:db8:ffff::1]:443", []string{"[2001:db8:1::5]:80, 2001:db8:ffff::2"}, "2001:db8:1::5"},
		{"IPv4-mapped peer", proxies, "[::ffff:10.0.0.1]:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"IPv4-mapped entry", proxies, "10.0.0.1:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"spaces and empty items", proxies, "10.0.0.1:5000", []string{" 203.0.113.9 ,, "}, "203.0.113.9"},
		{"unparseable peer", proxies, "@", []string{"203.0.113.9"}, "invalid IP"},
	} {
		r := httptest.NewRequest("GET", "/v1/ws", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := tt.proxies.ClientIP(r).String(); got != tt.want {
			t.Errorf("%s: ClientIP = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestClientIPBoundsHops(t *testing.T) {
	t.Parallel()
	proxies, _ := ParseProxies([]string{"10.0.0.0/8"})
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	v := "203.0.113.9"
	for range 1000 {
		v += ", 10.0.0.2"
	}
	r.Header.Set("X-Forwarded-For", v)
	// Only the rightmost hops are examined; all are trusted proxies, so the
	// leftmost examined one is taken, never an entry further left.
	if got := proxies.ClientIP(r).String(); got != "10.0.0.2" {
		t.Fatalf("ClientIP = %s, want 10.0.0.2", got)
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ addr, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	} {
		if got := Key(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Key(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	if Key(netip.Addr{}) != "unknown" || String(netip.Addr{}) != "unknown" {
		t.Error("the zero address is not unknown")
	}
}
