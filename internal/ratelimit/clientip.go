package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries are examined,
// from the right, for one request.
const maxForwardedHops = 32

// Proxies is the set of trusted reverse proxies (http.trusted_proxies).
// The nil *Proxies trusts none. Immutable; safe for concurrent use.
type Proxies struct {
	trusted []netip.Prefix
}

// ParseProxies parses a list of IP addresses and CIDR prefixes (such as
// 10.0.0.7, 10.0.0.0/8, fd00::/8). An empty list returns nil, which trusts
// no proxy.
func ParseProxies(list []string) (*Proxies, error) {
	if len(list) == 0 {
		return nil, nil
	}
	p := &Proxies{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if pfx, err := netip.ParsePrefix(s); err == nil {
			if pfx.Addr().Zone() != "" {
				return nil, fmt.Errorf("trusted proxy %q: zones are not allowed", s)
			}
			p.trusted = append(p.trusted, netip.PrefixFrom(pfx.Addr().Unmap(), unmappedBits(pfx)).Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("trusted proxy %q is neither an IP address nor a CIDR prefix", s)
		}
		a = a.Unmap()
		p.trusted = append(p.trusted, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// unmappedBits is the prefix length of pfx after Unmap: an IPv4-mapped
// IPv6 prefix (::ffff:10.0.0.0/104) becomes an IPv4 one (10.0.0.0/8).
func unmappedBits(pfx netip.Prefix) int {
	if a := pfx.Addr(); a.Is4In6() {
		return max(0, pfx.Bits()-96)
	}
	return pfx.Bits()
}

// Trusted reports whether a is a trusted proxy.
func (p *Proxies) Trusted(a netip.Addr) bool {
	if p == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, pfx := range p.trusted {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address of the client that made r: the TCP peer
// (r.RemoteAddr), or, when the peer is a trusted proxy, the rightmost
// address in X-Forwarded-For that is not a trusted proxy (each trusted
// proxy appends the address it received the request from, so everything
// left of the first untrusted entry, read from the right, may have been
// written by the client and is ignored). If every entry is a trusted proxy,
// the leftmost is the client; an entry that is not an address ends the
// walk at the last trusted hop before it. X-Forwarded-For from a peer that
// is not trusted is ignored. The zero Addr means the peer address could not
// be parsed.
func (p *Proxies) ClientIP(r *http.Request) netip.Addr {
	peer := parseHost(r.RemoteAddr)
	if !p.Trusted(peer) {
		return peer
	}
	hops := forwardedHops(r.Header.Values("X-Forwarded-For"))
	client := peer
	for _, h := range hops {
		a := parseHost(h)
		if !a.IsValid() {
			return client
		}
		client = a
		if !p.Trusted(a) {
			return a
		}
	}
	return client
}

// forwardedHops returns the X-Forwarded-For entries, rightmost first, at
// most maxForwardedHops. Several header lines form one list, in order.
func forwardedHops(values []string) []string {
	var hops []string
	for i := len(values) - 1; i >= 0 && len(hops) < maxForwardedHops; i-- {
		v := values[i]
		for len(hops) < maxForwardedHops {
			j := strings.LastIndexByte(v, ',')
			if h := strings.TrimSpace(v[j+1:]); h != "" {
				hops = append(hops, h)
			}
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return hops
}

// parseHost parses "ip", "ip:port", "[ipv6]:port" or "[ipv6]" into an
// unmapped address without zone; the zero Addr if it is none of these.
func parseHost(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	} else {
		s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// Key is the rate-limit key of a client address: the IPv4 address, or for
// IPv6 its /64, which one subscriber usually holds whole. The zero Addr
// (an unparseable peer) has the key "unknown".
func Key(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// String renders an address for logs: "unknown" for the zero Addr.
func String(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}
