package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/parley-im/parley/internal/core"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

func (s *Server) lookup(cl *mochi.Client) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[cl]
}

// refuseConnect answers CONNECT with a refusal and returns the error that
// makes the engine close the connection. c5 is the 5.0 reason, c3 the
// 3.1.1 return code.
func refuseConnect(cl *mochi.Client, v5 bool, c5 byte, c3 byte, reason string) error {
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: c3}
	if v5 {
		ack.ReasonCode = c5
		ack.Properties.ReasonString = reason
	}
	_ = cl.WritePacket(ack)
	return packets.Code{Code: c5, Reason: reason}
}

// CONNACK return codes of MQTT 3.1.1 (§3.2.2.3).
const (
	v3BadID          = 0x02
	v3Unavailable    = 0x03
	v3BadCredentials = 0x04
	v3NotAuthorized  = 0x05
)

// connect authenticates a CONNECT, checks its client id, will and limits,
// loads the session and attaches the connection to the core. On refusal
// it writes the CONNACK itself and returns an error.
func (s *Server) connect(cl *mochi.Client, pk packets.Packet) error {
	v5 := pk.ProtocolVersion == 5
	cid, user := pk.Connect.ClientIdentifier, string(pk.Connect.Username)
	if !validName(cid) || !validName(user) {
		return refuseConnect(cl, v5, 0x85, v3BadID, "client id and user name may not contain + # / or U+0000")
	}
	device := cid
	if i := strings.LastIndex(cid, "@@@"); i >= 0 {
		device = cid[i+3:] // <group>@@@<device> (seed 001)
	}
	if device == "" {
		device = cl.ID // the id the engine assigned to an empty client id
	}
	if err := core.ValidateDeviceID(device); err != nil {
		return refuseConnect(cl, v5, 0x85, v3BadID, "the client id does not name a valid device: "+err.Error())
	}
	if len(pk.Connect.Password) == 0 {
		return refuseConnect(cl, v5, 0x87, v3NotAuthorized, "anonymous connections are not allowed: give a user name and a password or token")
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opt.AuthDeadline)
	defer cancel()
	id, err := s.authenticate(ctx, cl, user, string(pk.Connect.Password), device)
	if err != nil {
		if errors.Is(err, core.ErrRateLimited) {
			return refuseConnect(cl, v5, 0x97, v3Unavailable, "too many logins: retry later")
		}
		if errors.Is(err, core.ErrBusy) {
			// Too many password checks at once: told at once, not left
			// to time out (5.0 Server busy; 3.1.1 has only unavailable).
			return refuseConnect(cl, v5, 0x89, v3Unavailable, "server busy: retry in a second")
		}
		if errors.Is(err, core.ErrTooManyDevices) {
			// Not temporary: 3.1.1's "not authorized" stops a client's
			// automatic reconnects, as 5.0's quota code explains itself.
			return refuseConnect(cl, v5, 0x97, v3NotAuthorized,
				"this user has as many devices as allowed: revoke one to connect a new client id")
		}
		if errors.Is(err, core.ErrUnavailable) {
			return refuseConnect(cl, v5, 0x88, v3Unavailable, "server unavailable: retry later")
		}
		return refuseConnect(cl, v5, 0x86, v3BadCredentials, "bad user name or password")
	}
	if pk.Connect.WillFlag {
		r := s.scheme.publishRoute(id.User, pk.Connect.WillTopic)
		ok := r.kind == routeDirect
		if r.kind == routeGroup {
			ok, _ = s.core.IsMember(ctx, id.User, r.target)
		}
		if !ok {
			return refuseConnect(cl, v5, 0x87, v3NotAuthorized, "a will may only be a message of yours to a chat you are in")
		}
	}
	if ka := time.Duration(pk.Connect.Keepalive) * time.Second; ka == 0 || ka > s.opt.MaxKeepAlive {
		// The server's keepalive (5.0: CONNACK Server Keep Alive); a 3.1.1
		// client is held to it without being told.
		cl.State.Keepalive = uint16(min(s.opt.KeepAlive/time.Second, 65535))
		cl.State.ServerKeepalive = true
	}
	c := &conn{s: s, mc: cl, id: id, v5: v5, ready: make(chan struct{}), done: make(chan struct{}),
		window: make(chan struct{}, s.sendWindow(pk)), inflight: make(map[uint16]position),
		acks: make(map[uint16]protocol.Ack), subFix: make(map[uint16]map[int]byte)}
	if pk.Properties.SessionExpiryIntervalFlag {
		// The CONNACK caps it at the server's maximum; so does the store.
		c.expiry = min(pk.Properties.SessionExpiryInterval, s.mq.Options.Capabilities.MaximumSessionExpiryInterval)
	}
	c.persistent = !pk.Connect.Clean && (!v5 || c.expiry > 0)
	c.dups = s.sessionDups(id.User+"/"+id.Device, c.persistent)
	if pk.Connect.Clean {
		// A clean start drops the subscriptions, never the positions.
		err = s.core.DeleteMQTTSession(ctx, id)
	} else {
		var sess core.MQTTSession
		sess, c.present, err = s.core.LoadMQTTSession(ctx, id)
		c.subs = sess.Subscriptions
	}
	if err == nil && c.persistent {
		err = c.persist(ctx)
	}
	if err != nil {
		s.log.Warn("mqtt session", "user", id.User, "device", id.Device, "err", err)
		return refuseConnect(cl, v5, 0x88, v3Unavailable, "server unavailable: retry later")
	}
	s.cancelWill(id)
	cl.ID = id.User + "/" + id.Device // the engine's session key: one per (user, device)
	s.mu.Lock()
	s.conns[cl] = c
	s.mu.Unlock()
	c.cl, err = s.core.Attach(id, c)
	if err != nil {
		s.mu.Lock()
		delete(s.conns, cl)
		s.mu.Unlock()
		var le *ratelimit.Error
		if errors.As(err, &le) && le.Limit == ratelimit.LimitFlapping {
			return refuseConnect(cl, v5, 0x9F, v3Unavailable, le.Msg)
		}
		return refuseConnect(cl, v5, 0x97, v3Unavailable, err.Error())
	}
	return nil
}

// sendWindow is how many QoS 1 deliveries may await their PUBACK: the
// gateway's window, no more than the client's Receive Maximum (5.0).
func (s *Server) sendWindow(pk packets.Packet) int {
	n := s.opt.SendWindow
	if rm := int(pk.Properties.ReceiveMaximum); pk.ProtocolVersion == 5 && rm > 0 && rm < n {
		n = rm
	}
	return n
}

// authenticate checks a CONNECT's credentials: an access token in the
// password field (the user name, if given, must be the token's user), or
// the user's password.
func (s *Server) authenticate(ctx context.Context, cl *mochi.Client, user, password, device string) (core.Identity, error) {
	if looksLikeJWT(password) {
		id, err := s.core.Authenticate(ctx, password, device)
		if err != nil {
			return id, err
		}
		if user != "" && user != id.User {
			return core.Identity{}, core.ErrUnauthorized
		}
		return id, nil
	}
	if user == "" {
		return core.Identity{}, core.ErrUnauthorized
	}
	if s.opt.Logins != nil {
		ipKey := ""
		if nc, ok := cl.Net.Conn.(*netConn); ok {
			ipKey = nc.ipKey
		}
		done, err := s.opt.Logins.Attempt(ipKey, user)
		if err != nil {
			if le, ok := err.(interface{ Limits() []string }); ok {
				for _, l := range le.Limits() {
					s.core.Metrics().RateLimited.WithLabelValues(l).Inc()
				}
			}
			return core.Identity{}, err
		}
		id, err := s.core.CheckPassword(ctx, user, password, device)
		done(err)
		return id, err
	}
	return s.core.CheckPassword(ctx, user, password, device)
}

// looksLikeJWT reports whether s has the shape of a compact JWS: three
// base64url segments.
func looksLikeJWT(s string) bool {
	if strings.Count(s, ".") != 2 || len(s) < 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// disconnected ends Parley's side of a connection the engine has closed.
func (s *Server) disconnected(cl *mochi.Client, err error) {
	s.mu.Lock()
	c := s.conns[cl]
	delete(s.conns, cl)
	s.mu.Unlock()
	if c == nil {
		return
	}
	c.setDone()
	code, reason := 1000, ""
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		code, reason = protocol.ClosePingTimeout, "keepalive expired"
	}
	c.cl.Close(code, reason)
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.WriteTimeout)
	defer cancel()
	var serr error
	switch {
	case c.persistent:
		serr = c.persist(ctx)
	case c.present:
		// A 5.0 session resumed with expiry 0 ends with its connection.
		serr = s.core.DeleteMQTTSession(ctx, c.id)
	}
	if serr != nil {
		s.log.Warn("mqtt session not saved", "user", c.id.User, "device", c.id.Device, "err", serr)
	}
	// The stored session is the session; the engine's copy would only keep
	// a disconnected client's buffers alive.
	if cur, ok := s.mq.Clients.Get(cl.ID); ok && cur == cl {
		s.mq.Clients.Delete(cl.ID)
	}
}

// persist saves the session: subscriptions, and when it ends if the client
// stays away (zero while connected, or for 3.1.1 and the 5.0 maximum:
// then device expiry ends it).
func (c *conn) persist(ctx context.Context) error {
	c.mu.Lock()
	sess := core.MQTTSession{Subscriptions: append([]core.MQTTSubscription(nil), c.subs...)}
	c.mu.Unlock()
	select {
	case <-c.done:
		if c.v5 && c.expiry != 0xFFFFFFFF {
			sess.ExpiresAt = time.Now().Add(time.Duration(c.expiry) * time.Second)
		}
	default:
	}
	return c.s.core.SaveMQTTSession(ctx, c.id, sess)
}

// start begins delivery once: a persistent session resumes from the
// device's positions; a clean session receives what is committed from now.
// For a clean session it runs on the read goroutine before the SUBACK of
// the first subscription is written.
func (c *conn) start() {
	c.mu.Lock()
	started := c.started
	c.started = true
	c.mu.Unlock()
	if started {
		return
	}
	if c.persistent || c.present {
		c.cl.Resume("", nil)
		return
	}
	// Where "now" is in each conversation is read here, before the SUBACK:
	// the core's writer gets to the resume later, and what was committed
	// in between would be behind a cursor it placed itself (ResumeLive).
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opt.WriteTimeout)
	from, err := c.s.core.NewestSeqs(ctx, c.id.User)
	cancel()
	if err != nil {
		c.s.log.Warn("mqtt clean session start", "user", c.id.User, "device", c.id.Device, "err", err)
		c.cl.ResumeLive("")
		return
	}
	c.cl.Resume("", from)
}

// maySubscribe is the ACL for a topic filter.
func (c *conn) maySubscribe(filter string) bool {
	verdict, group := c.s.scheme.checkFilter(c.id.User, filter)
	switch verdict {
	case subOK:
		return true
	case subNeedsMem:
		ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opt.WriteTimeout)
		defer cancel()
		ok, err := c.s.core.IsMember(ctx, c.id.User, group)
		return err == nil && ok
	case subNeedsTag:
		ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opt.WriteTimeout)
		defer cancel()
		ok, err := c.s.core.CarriesTagValue(ctx, c.id.User, group)
		return err == nil && ok
	case subNeedsFollow:
		ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opt.WriteTimeout)
		defer cancel()
		ok, err := c.s.core.IsFollowing(ctx, c.id.User, group)
		return err == nil && ok
	}
	return false
}

// Filters the gateway substitutes for ones it refuses with a reason the
// engine's ACL cannot give: an invalid filter (0x8F) and one the ACL
// refuses, corrected to quota exceeded (0x97) in the SUBACK.
const (
	filterInvalid = "#/invalid"
	filterQuota   = "$parley/quota-exceeded"
)

// vetSubscribe adjusts a SUBSCRIBE before the engine handles it: filters
// with too many levels, or with a wildcard that is not a whole level (which
// the engine lets through), become invalid (0x8F), filters past the session's
// quota are refused (0x97), and deliveries are granted at most QoS 1
// (docs/mqtt.md: a message's id and seq make QoS 2's extra round trip
// useless for chat).
func (c *conn) vetSubscribe(pk *packets.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.subs)
	fix := make(map[int]byte)
	for i := range pk.Filters {
		f := &pk.Filters[i]
		if strings.Count(f.Filter, "/")+1 > maxTopicLevels || !wellFormedFilter(f.Filter) {
			f.Filter = filterInvalid
			continue
		}
		if !c.hasSub(f.Filter) {
			if n >= c.s.opt.MaxSubscriptions {
				f.Filter = filterQuota
				fix[i] = packets.ErrQuotaExceeded.Code
				continue
			}
			n++
		}
		f.Qos = min(f.Qos, 1)
	}
	if len(fix) > 0 && c.v5 {
		c.subFix[pk.PacketID] = fix
	}
}

func (c *conn) hasSub(filter string) bool {
	for _, s := range c.subs {
		if s.Filter == filter {
			return true
		}
	}
	return false
}

// subscribedTo records the filters the engine granted and starts delivery.
func (c *conn) subscribedTo(filters packets.Subscriptions, codes []byte) {
	c.mu.Lock()
	changed := false
	for i, f := range filters {
		if i >= len(codes) || codes[i] >= 0x80 {
			continue
		}
		changed = true
		replaced := false
		for j := range c.subs {
			if c.subs[j].Filter == f.Filter {
				c.subs[j].QoS, replaced = codes[i], true
			}
		}
		if !replaced {
			c.subs = append(c.subs, core.MQTTSubscription{Filter: f.Filter, QoS: codes[i]})
		}
	}
	c.mu.Unlock()
	if !changed {
		return
	}
	c.save()
	c.start()
}

// unsubscribedFrom forgets the filters.
func (c *conn) unsubscribedFrom(filters packets.Subscriptions) {
	c.mu.Lock()
	kept := c.subs[:0]
	for _, s := range c.subs {
		gone := false
		for _, f := range filters {
			gone = gone || f.Filter == s.Filter
		}
		if !gone {
			kept = append(kept, s)
		}
	}
	c.subs = kept
	c.mu.Unlock()
	c.save()
}

// save stores the subscriptions of a persistent session.
func (c *conn) save() {
	if !c.persistent {
		return
	}
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opt.WriteTimeout)
	defer cancel()
	if err := c.persist(ctx); err != nil {
		c.s.log.Warn("mqtt session not saved", "user", c.id.User, "device", c.id.Device, "err", err)
	}
}

// publish handles a client's PUBLISH (the ACL has allowed its topic). It
// returns after the commit; CodeSuccessIgnore lets the engine send the
// PUBACK or PUBREC and route nothing itself.
func (c *conn) publish(pk packets.Packet) (packets.Packet, error) {
	r := c.s.scheme.publishRoute(c.id.User, pk.TopicName)
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opt.WriteTimeout)
	defer cancel()
	var err error
	switch r.kind {
	case routeBroadcast:
		return c.publishBroadcast(ctx, pk, r)
	case routeAck, routeRead:
		seq, ok := parseSeq(pk.Payload)
		if !ok {
			return c.refuse(pk, &core.FieldError{Field: "payload", Reason: "must be a seq: a decimal number or {\"seq\": N}"})
		}
		if r.kind == routeAck {
			err = c.s.core.Ack(ctx, c.id, r.target, seq)
		} else {
			_, err = c.s.core.Read(ctx, c.id, r.target, seq)
		}
	case routeTyping:
		err = c.s.core.Typing(ctx, c.id, r.target)
	case routeFriendReq, routeFriendResp:
		err = c.publishFriend(ctx, pk, r)
	case routeMoment:
		err = c.publishMoment(ctx, pk)
	case routeInviteAnswer:
		err = c.publishInviteAnswer(ctx, pk, r)
	case routeDirect, routeGroup:
		req, ferr := parseSend(pk)
		if ferr != nil {
			return c.refuse(pk, &core.FieldError{Field: ferr.field, Reason: ferr.msg})
		}
		if r.kind == routeDirect {
			req.To = r.target
		} else {
			req.Conv = r.target
		}
		if req.ClientMsgID == "" && pk.FixedHeader.Qos == 2 {
			req.PacketKey = qos2Key(c.id.Device, pk.PacketID)
		}
		req.ClientMsgID = c.clientMsgID(pk, req.ClientMsgID)
		var ack protocol.Ack
		ack, err = c.send(ctx, req)
		if err == nil && ack.Duplicate && req.PacketKey != "" && !pk.FixedHeader.Dup {
			// A first send (DUP 0) of a packet id whose earlier message was
			// never released (its session ended before PUBREL): the id is
			// the client's again, so this is a new message.
			if err = c.release(pk.PacketID); err == nil {
				ack, err = c.send(ctx, req)
			}
		}
		if err == nil && pk.FixedHeader.Qos > 0 {
			c.mu.Lock()
			c.acks[pk.PacketID] = ack
			c.mu.Unlock()
		}
	default:
		return pk, packets.ErrRejectPacket
	}
	if err != nil {
		return c.refuse(pk, err)
	}
	return pk, packets.CodeSuccessIgnore
}

// maxRateWait bounds how long a publish waits out the send rate limit.
const maxRateWait = 5 * time.Second

// send commits req. A send over the rate limit waits (the connection's
// reading waits with it: MQTT's own backpressure) and is tried again, a
// few times.
func (c *conn) send(ctx context.Context, req core.SendRequest) (protocol.Ack, error) {
	ctx = core.WithProtocol(ctx, core.ProtoMQTT)
	for try := 0; ; try++ {
		ack, err := c.s.core.Send(ctx, c.id, req)
		var le *ratelimit.Error
		if err == nil || try == 3 || !errors.As(err, &le) || le.RetryAfter > maxRateWait {
			return ack, err
		}
		select {
		case <-time.After(le.RetryAfter):
		case <-ctx.Done():
			return ack, err
		}
	}
}

// clientMsgID picks the client message id of a send: the client's, else
// for QoS 2 a new one (a re-sent PUBLISH is recognized by its packet key,
// qos2Key), else for QoS 1 a new one, or the one given to the same packet
// id if the PUBLISH is a re-send (DUP).
func (c *conn) clientMsgID(pk packets.Packet, given string) string {
	switch {
	case given != "":
		return given
	case pk.FixedHeader.Qos == 2:
		return "q2:" + randomHex(12)
	case pk.FixedHeader.Qos == 1:
		return c.dups.idFor(pk.PacketID, pk.FixedHeader.Dup)
	}
	return ""
}

// maxDupSessions bounds the sessions whose QoS 1 dedupe cache is kept.
const maxDupSessions = 4096

// sessionDups returns the QoS 1 dedupe cache of the session with key
// (user/device): a persistent session keeps its cache across connections,
// so that a PUBLISH re-sent with DUP after a reconnect is stored once
// (BAD_INPUTS M12); a clean session starts afresh and drops the cache of a
// session before it. At most maxDupSessions caches are kept, in memory:
// one dropped, or lost in a restart, makes a re-send without a
// client_msg_id a new message.
func (s *Server) sessionDups(key string, persistent bool) *dupCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dups[key]
	if !persistent || d == nil {
		d = &dupCache{limit: int(s.opt.ReceiveMaximum)}
	}
	if !persistent {
		delete(s.dups, key)
		return d
	}
	if _, ok := s.dups[key]; !ok && len(s.dups) >= maxDupSessions {
		for k := range s.dups {
			delete(s.dups, k)
			break
		}
	}
	s.dups[key] = d
	return d
}

// qos2Key is the packet key (core.SendRequest.PacketKey) of a QoS 2
// publish without a client message id: stored with the message in its
// transaction, so a re-sent PUBLISH is not stored again, also after a
// restart, until PUBREL releases it. It is the form the client message id
// of such a message had before packet keys (migration 0006 keeps those).
func qos2Key(device string, pid uint16) string {
	h := sha256.Sum256([]byte(device))
	return "q2:" + hex.EncodeToString(h[:8]) + ":" + strconv.Itoa(int(pid))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// refuse answers a publish the core refused. A failure of the server
// (store unavailable) disconnects without an ack, so the client sends it
// again after reconnecting. Otherwise 5.0 clients get the reason code in
// the PUBACK or PUBREC; QoS 0 publishes, which cannot carry one, are told
// on the inbox's Error topic. A 3.1.1 QoS 1 or 2 publish is never
// acknowledged, since its PUBACK or PUBREC would say it was done (a send:
// stored) and 3.1.1 has no refusal: the client is told on its Error topic,
// then the connection is closed [MQTT-3.3.5-2].
func (c *conn) refuse(pk packets.Packet, err error) (packets.Packet, error) {
	perr := core.ToProtocol(err)
	if perr.Code >= 500 {
		c.s.log.Warn("mqtt publish failed", "user", c.id.User, "device", c.id.Device, "err", err)
		if c.v5 {
			_ = c.s.mq.DisconnectClient(c.mc, packets.Code{Code: packets.ErrServerBusy.Code, Reason: perr.Message})
		} else {
			c.mc.Stop(err)
		}
		return pk, packets.ErrRejectPacket
	}
	if c.v5 && pk.FixedHeader.Qos > 0 {
		typ := byte(packets.Puback)
		if pk.FixedHeader.Qos == 2 {
			typ = packets.Pubrec
		}
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: typ}, PacketID: pk.PacketID, ReasonCode: reasonFor(perr)}
		ack.Properties.ReasonString = perr.Message
		_ = c.mc.WritePacket(ack)
		return pk, packets.ErrRejectPacket
	}
	if pk.FixedHeader.Qos > 0 {
		// Written here, before the close: not queued behind deliveries.
		if werr := c.notifyError(perr); werr != nil {
			c.s.log.Debug("mqtt error notice not written", "user", c.id.User, "device", c.id.Device, "err", werr)
		}
		c.mc.Stop(packets.Code{Code: packets.ErrNotAuthorized.Code, Reason: perr.Message})
		return pk, packets.ErrRejectPacket
	}
	c.cl.ReplyError("", err)
	return pk, packets.CodeSuccessIgnore
}

// reasonFor maps a refusal to a PUBACK/PUBREC reason code (MQTT 5 §3.4.2.1).
func reasonFor(e *protocol.Error) byte {
	switch {
	case e.Code == 429:
		return packets.ErrQuotaExceeded.Code
	case e.Code == 403 || e.Code == 404 || e.Code == 401:
		return packets.ErrNotAuthorized.Code
	case e.Code == 400 || e.Code == 413:
		return packets.ErrPayloadFormatInvalid.Code
	}
	return packets.ErrImplementationSpecificError.Code
}

// packetRead checks a packet before the engine handles it. The engine
// ignores an error of this hook unless it is packets.ErrRejectPacket (and
// then handles the packet anyway), so every error returned wraps it: the
// read loop ends with it and the packet is not handled.
func (s *Server) packetRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	v5 := cl.Properties.ProtocolVersion == 5
	switch pk.FixedHeader.Type {
	case packets.Connect:
		if s.lookup(cl) == nil { // the connection's CONNECT, not a second one
			if err := checkProtocol(cl, pk); err != nil {
				return pk, err
			}
		}
		if pk.ProtocolVersion < 5 {
			pk.Connect.WillRetain = false // 3.1.1: retain is ignored, nothing is retained
		}
	case packets.Publish:
		if strings.HasPrefix(pk.TopicName, "$") {
			// The engine drops a publish to a $ topic without a word; the
			// ACL refuses it instead (5.0: PUBACK 0x87; 3.1.1: disconnect).
			pk.TopicName = s.scheme.root + "/$refused"
		}
		if strings.ContainsRune(pk.TopicName, 0) {
			return pk, s.protocolError(cl, v5, packets.ErrTopicNameInvalid)
		}
		if pk.FixedHeader.Retain {
			if v5 {
				return pk, s.protocolError(cl, v5, packets.ErrRetainNotSupported)
			}
			pk.FixedHeader.Retain = false
		}
	case packets.Puback:
		if c := s.lookup(cl); c != nil {
			c.acked(pk.PacketID)
		}
	case packets.Pubrel:
		if c := s.lookup(cl); c != nil {
			if err := c.release(pk.PacketID); err != nil {
				return pk, fmt.Errorf("%w: %w", packets.ErrRejectPacket, err)
			}
		}
	}
	return pk, nil
}

// protocolError disconnects a client (5.0 with a DISCONNECT carrying code)
// and returns the error that ends its read loop.
func (s *Server) protocolError(cl *mochi.Client, v5 bool, code packets.Code) error {
	if v5 {
		_ = s.mq.DisconnectClient(cl, code)
	}
	return fmt.Errorf("%w: %w", code, packets.ErrRejectPacket)
}

// checkProtocol refuses a CONNECT of another protocol than MQTT 3.1, 3.1.1
// or 5.0 before the engine answers it (with a CONNACK code 3.1.1 does not
// have): a protocol name that is not MQTT's closes the connection without
// an answer [MQTT-3.1.2-1]; an unsupported protocol level gets CONNACK
// 0x01 in the 3.1.1 form, which a client of any version can read
// [MQTT-3.1.2-2].
func checkProtocol(cl *mochi.Client, pk packets.Packet) error {
	name, level := string(pk.Connect.ProtocolName), pk.ProtocolVersion
	switch {
	case name == "MQTT" && (level == 4 || level == 5), name == "MQIsdp" && level == 3:
		return nil
	case name != "MQTT" && name != "MQIsdp":
		return fmt.Errorf("%w: %w", packets.ErrProtocolViolationProtocolName, packets.ErrRejectPacket)
	}
	// cl.Properties.ProtocolVersion is still 0: the CONNACK is written in
	// the 3.1.1 form.
	_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack},
		ReasonCode: packets.Err3UnsupportedProtocolVersion.Code})
	return fmt.Errorf("%w: %w", packets.ErrUnsupportedProtocolVersion, packets.ErrRejectPacket)
}

// release frees the QoS 2 packet key of packet id pid before the engine
// answers PUBREL with PUBCOMP: after it, the id is a new message again. The
// release is durable before the PUBCOMP (a new PUBLISH with the id may
// follow at once, [MQTT-4.3.3-12]) and shares the committer's transaction
// with the sends of the moment. The message keeps its client message id.
func (c *conn) release(pid uint16) error {
	ctx, cancel := context.WithTimeout(c.s.ctx, c.s.opt.WriteTimeout)
	defer cancel()
	if err := c.s.core.ReleasePacketKey(ctx, c.id.User, qos2Key(c.id.Device, pid)); err != nil {
		return fmt.Errorf("release qos 2 packet id %d: %w", pid, err)
	}
	return nil
}

// encode adjusts a packet the engine is about to write.
func (c *conn) encode(pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Connack:
		if pk.ReasonCode != 0 {
			return pk
		}
		pk.SessionPresent = c.present
		pr := &pk.Properties
		pr.RetainAvailable, pr.RetainAvailableFlag = 0, true
		pr.SharedSubAvailable, pr.SharedSubAvailableFlag = 0, true
		pr.SubIDAvailable, pr.SubIDAvailableFlag = 0, true
		pr.MaximumPacketSize = uint32(c.s.opt.MaxPacketBytes)
		pr.TopicAliasMaximum = c.s.mq.Options.Capabilities.TopicAliasMaximum
	case packets.Puback, packets.Pubrec:
		if pk.FixedHeader.Type == packets.Pubrec && pk.ReasonCode == packets.ErrPacketIdentifierInUse.Code {
			// A re-sent PUBLISH before PUBREL: the same PUBREC again, and
			// nothing stored again [MQTT-4.3.3-10].
			pk.ReasonCode, pk.Properties.ReasonString = 0, ""
		}
		c.mu.Lock()
		ack, ok := c.acks[pk.PacketID]
		delete(c.acks, pk.PacketID)
		c.mu.Unlock()
		if pk.ReasonCode < 0x80 {
			// A success: the engine writes the granted QoS (0x01) as the
			// QoS 1 PUBACK's reason, which MQTT 5 does not define; the ack
			// says 0x00 and carries what was stored, nothing of the
			// client's PUBLISH.
			pk.ReasonCode, pk.Properties = successAck(pk.ReasonCode) // 0x00, or 0x10 of a broadcast (broadcast.go)
			if ok {
				pk.Properties.User = ackProps(ack)
			}
		}
	case packets.Suback:
		c.mu.Lock()
		fix := c.subFix[pk.PacketID]
		delete(c.subFix, pk.PacketID)
		c.mu.Unlock()
		for i, code := range fix {
			if i < len(pk.ReasonCodes) {
				pk.ReasonCodes[i] = code
			}
		}
	}
	return pk
}

// will sends a client's will message as a message of the user when the
// connection ended without DISCONNECT (5.0: after its will delay, unless
// the device reconnects first).
func (c *conn) will(w mochi.Will) {
	r := c.s.scheme.publishRoute(c.id.User, w.TopicName)
	if r.kind != routeDirect && r.kind != routeGroup {
		return
	}
	pk := packets.Packet{Payload: w.Payload}
	pk.Properties.User = w.User
	req, ferr := parseSend(pk)
	if ferr != nil {
		return
	}
	if r.kind == routeDirect {
		req.To = r.target
	} else {
		req.Conv = r.target
	}
	if req.ClientMsgID == "" {
		req.ClientMsgID = "will:" + randomHex(12)
	}
	send := func() {
		ctx, cancel := context.WithTimeout(core.WithProtocol(c.s.ctx, core.ProtoMQTT), c.s.opt.WriteTimeout)
		defer cancel()
		if _, err := c.s.core.Send(ctx, c.id, req); err != nil {
			c.s.log.Debug("mqtt will not sent", "user", c.id.User, "device", c.id.Device, "err", err)
		}
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.s.closed {
		// The server is shutting down: the client did not vanish, and its
		// session resumes when the server is back.
		return
	}
	if w.WillDelayInterval == 0 {
		go send()
		return
	}
	if c.s.deviceConnected(c) {
		// Taken over: the device is connected again before the delay.
		return
	}
	key := c.id.User + "/" + c.id.Device
	if t := c.s.wills[key]; t != nil {
		t.Stop()
	}
	c.s.wills[key] = time.AfterFunc(time.Duration(w.WillDelayInterval)*time.Second, func() {
		c.s.mu.Lock()
		delete(c.s.wills, key)
		back := c.s.closed || c.s.deviceConnected(c)
		c.s.mu.Unlock()
		if !back {
			send()
		}
	})
}

// deviceConnected reports whether another MQTT connection of c's device
// is attached (s.mu held). It walks the connections: wills with a delay
// are rare.
func (s *Server) deviceConnected(c *conn) bool {
	for _, o := range s.conns {
		if o != c && o.id.User == c.id.User && o.id.Device == c.id.Device {
			return true
		}
	}
	return false
}

// cancelWill drops the delayed will of a device that connected again.
func (s *Server) cancelWill(id core.Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := id.User + "/" + id.Device
	if t := s.wills[key]; t != nil {
		t.Stop()
		delete(s.wills, key)
	}
}
