package checker

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Outcome is what a sender learned from one send attempt.
type Outcome int

const (
	// Unknown means no answer: a timeout, a lost connection, a killed
	// server. The message may or may not be stored. It is the zero value.
	Unknown Outcome = iota
	// Failed means the server answered with an error: nothing was stored.
	Failed
	// Acked means the server acknowledged the message: it is durable.
	Acked
)

// String returns "unknown", "failed" or "acked".
func (o Outcome) String() string {
	switch o {
	case Unknown:
		return "unknown"
	case Failed:
		return "failed"
	case Acked:
		return "acked"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// rank orders outcomes for merging the attempts of one logical message:
// Acked beats Unknown, Unknown beats Failed.
func (o Outcome) rank() int {
	switch o {
	case Failed:
		return 0
	case Unknown:
		return 1
	case Acked:
		return 2
	}
	panic(fmt.Sprintf("checker: invalid %v", o))
}

// DefaultMaxDetails is how many examples of each violation a Report holds
// unless WithMaxDetails says otherwise.
const DefaultMaxDetails = 10

// Option configures a Checker.
type Option func(*Checker)

// WithAckWindow bounds how old an acknowledgement a crash may lose: a
// repeat after a crash of a message whose acknowledgement was recorded more
// than d before that crash counts as Duplicated, not Redelivered (the server
// batches acknowledgement writes and must have flushed it). Zero, the
// default, lets a crash lose any acknowledgement made before it.
func WithAckWindow(d time.Duration) Option {
	return func(c *Checker) { c.window = d }
}

// WithClock sets the clock used to time acknowledgements and crashes for
// WithAckWindow. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *Checker) { c.now = now }
}

// WithMaxDetails sets how many examples of each violation Report.Details
// holds (DefaultMaxDetails by default; 0 for none).
func WithMaxDetails(n int) Option {
	return func(c *Checker) { c.maxDetails = max(n, 0) }
}

// Checker records a fault test's sends, deliveries, acknowledgements and
// crashes, and reports what they add up to. The zero value is not usable;
// call New. All methods are safe for concurrent use.
type Checker struct {
	mu         sync.Mutex
	window     time.Duration
	now        func() time.Time
	maxDetails int

	clock   uint64 // logical time: one tick per recorded event
	crashes []crash

	devices, convs, users, cmids, msgIDs names

	msgs       []msgInfo // indexed like msgIDs.list
	logicals   []logical
	logicalIdx map[logicalKey]int32
	streams    map[pairKey]*stream
	delivered  map[devMsg]struct{}
	expects    map[pairKey]uint64 // from-seq per expected (device, conversation)
	convMax    []uint64           // highest known seq, indexed like convs.list
	slots      map[slotKey]int32  // first message id seen at (conversation, seq)

	attempts    int
	deliveries  int
	redelivered int
	repeated    int // repeats of acknowledged messages the server could not have forgotten
	reordered   int
	notes       [numKinds][]string // examples found while recording
}

// New returns an empty Checker.
func New(opts ...Option) *Checker {
	c := &Checker{
		now:        time.Now,
		maxDetails: DefaultMaxDetails,
		logicalIdx: make(map[logicalKey]int32),
		streams:    make(map[pairKey]*stream),
		delivered:  make(map[devMsg]struct{}),
		expects:    make(map[pairKey]uint64),
		slots:      make(map[slotKey]int32),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

type crash struct {
	clock uint64
	at    time.Time
}

// names interns strings as small integers, so the maps are keyed by small
// structs and each string is kept once.
type names struct {
	idx  map[string]int32
	list []string
}

func (n *names) id(s string) int32 {
	if i, ok := n.idx[s]; ok {
		return i
	}
	if n.idx == nil {
		n.idx = make(map[string]int32)
	}
	i := int32(len(n.list))
	n.idx[s] = i
	n.list = append(n.list, s)
	return i
}

type logicalKey struct{ sender, cmid int32 }

type pairKey struct{ dev, conv int32 }

type devMsg struct{ dev, msg int32 }

type slotKey struct {
	conv int32
	seq  uint64
}

// logical is one logical message: every attempt with one (sender, client
// message id), and every server message that carries it.
type logical struct {
	key     logicalKey
	sent    bool    // recorded by Send, not only seen in deliveries
	outcome Outcome // best outcome of the attempts
	conv    int32   // conversation of the first Acked attempt, or -1
	msgs    []int32 // distinct server message ids tied to it
	anon    []slotKey
}

// msgInfo is one server message id.
type msgInfo struct {
	logical  int32 // logical message it carries, or -1
	conv     int32 // first position seen
	seq      uint64
	placed   bool
	stored   bool  // declared by Stored
	devices  int32 // devices that got it
	firstDev int32
	conflict bool // seen at two positions, for two logical messages, or sharing a slot
}

// stream is what one device got and acknowledged in one conversation.
type stream struct {
	seqs  []uint64 // seqs of first-time deliveries (Report sorts them in place)
	max   uint64   // highest seq among first-time deliveries
	acked uint64   // highest seq the device acknowledged
	acks  []ackMark

	// cache of guaranteed, valid while len(acks) and len(crashes) match.
	gOK             bool
	gAcks, gCrashes int
	g               uint64
}

// ackMark is an acknowledgement that raised (or, after a crash, repeated)
// a device's position.
type ackMark struct {
	pos   uint64
	clock uint64
	at    time.Time
}

// kind is a class of violation, in the order Report lists them.
type kind int

const (
	kindLost kind = iota
	kindDuplicated
	kindUnexpected
	kindReordered
	kindGaps
	kindConflicts
	numKinds
)

var kindNames = [numKinds]string{"lost", "duplicated", "unexpected", "reordered", "gaps", "conflicts"}

// note keeps an example of a violation of kind k, up to maxDetails.
func (c *Checker) note(k kind, format string, args ...any) {
	if len(c.notes[k]) < c.maxDetails {
		c.notes[k] = append(c.notes[k], kindNames[k]+": "+fmt.Sprintf(format, args...))
	}
}

// Send records one attempt to send the logical message (sender,
// clientMsgID) and its outcome. Retries reuse clientMsgID; recording a
// message more than once is normal. conv, seq and msgID are read only when
// o is Acked: conv is required then, while seq 0 or an empty msgID mean the
// acknowledgement did not say. Acknowledgements of one clientMsgID that name
// different message ids or positions mean the server stored it twice
// (Duplicated).
func (c *Checker) Send(sender, clientMsgID string, o Outcome, conv string, seq uint64, msgID string) {
	if sender == "" || clientMsgID == "" {
		panic("checker: Send needs a sender and a client message id")
	}
	o.rank() // validates o
	if o == Acked && conv == "" {
		panic("checker: an Acked Send needs its conversation")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	c.attempts++
	l := c.logical(sender, clientMsgID)
	lg := &c.logicals[l]
	if !lg.sent || o.rank() > lg.outcome.rank() {
		lg.outcome = o
	}
	lg.sent = true
	if o != Acked {
		return
	}
	cv := c.conv(conv)
	if lg.conv < 0 {
		lg.conv = cv
	}
	switch {
	case msgID != "":
		m := c.msg(msgID)
		c.bind(m, l)
		if seq != 0 {
			c.place(m, cv, seq)
		}
	case seq != 0:
		c.raise(cv, seq)
		s := slotKey{cv, seq}
		for _, a := range lg.anon {
			if a == s {
				return
			}
		}
		lg.anon = append(lg.anon, s)
	}
}

// Deliver records that device (for example "alice/phone") was given the
// message msgID at (conv, seq). sender and clientMsgID are the envelope's;
// when clientMsgID is not empty they tie the delivery to the send log, which
// is how a message whose acknowledgement did not name it is recognized.
// Calls for one device must follow the order in which it got the messages.
func (c *Checker) Deliver(device, conv string, seq uint64, msgID, clientMsgID, sender string) {
	if device == "" || conv == "" || msgID == "" || seq == 0 {
		panic("checker: Deliver needs a device, a conversation, a seq and a message id")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	c.deliveries++
	d, cv, m := c.devices.id(device), c.conv(conv), c.msg(msgID)
	c.place(m, cv, seq)
	if clientMsgID != "" {
		c.bind(m, c.logical(sender, clientMsgID))
	}
	st := c.stream(d, cv)
	dm := devMsg{d, m}
	if _, seen := c.delivered[dm]; !seen {
		c.delivered[dm] = struct{}{}
		mi := &c.msgs[m]
		if mi.devices == 0 {
			mi.firstDev = d
		}
		mi.devices++
		if len(st.seqs) > 0 && seq < st.max {
			c.reordered++
			c.note(kindReordered, "%s got %s seq %d (%s) after seq %d", device, conv, seq, msgID, st.max)
		}
		st.max = max(st.max, seq)
		st.seqs = append(st.seqs, seq)
		return
	}
	if seq > st.acked {
		return // not acknowledged yet: ordinary at-least-once retransmission
	}
	if seq <= c.guaranteed(st) {
		c.repeated++
		c.note(kindDuplicated, "%s got %s seq %d (%s) again after acknowledging seq %d, with no crash that could have lost the acknowledgement",
			device, conv, seq, msgID, st.acked)
		return
	}
	c.redelivered++
}

// Ack records that device acknowledged every message of conv up to seq
// (acknowledgements are cumulative; a lower seq than before changes
// nothing). Record it before sending it to the server.
func (c *Checker) Ack(device, conv string, seq uint64) {
	if device == "" || conv == "" {
		panic("checker: Ack needs a device and a conversation")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	st := c.stream(c.devices.id(device), c.conv(conv))
	switch {
	case seq > st.acked:
	case seq == st.acked && seq > 0 && len(c.crashes) > 0 &&
		st.acks[len(st.acks)-1].clock < c.crashes[len(c.crashes)-1].clock:
		// The same position again, the first time since a crash: the
		// restarted server knows it now.
	default:
		return
	}
	st.acked = seq
	a := ackMark{pos: seq, clock: c.clock}
	if c.window > 0 {
		a.at = c.now()
	}
	st.acks = append(st.acks, a)
}

// Crash records that the server (or a node) crashed: acknowledgements made
// before now may be lost, so their messages may be redelivered. Call it
// after the process is dead and before it serves again.
func (c *Checker) Crash() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	cr := crash{clock: c.clock}
	if c.window > 0 {
		cr.at = c.now()
	}
	c.crashes = append(c.crashes, cr)
}

// Expect declares that device must receive every message of each of convs,
// from seq 1 on.
func (c *Checker) Expect(device string, convs ...string) {
	for _, cv := range convs {
		c.ExpectFrom(device, cv, 1)
	}
}

// ExpectFrom declares that device must receive every message of conv from
// seq from on (0 means 1): for a device that joined later, or a
// conversation whose earlier messages the test did not make. When a pair is
// declared more than once, the lowest from wins.
func (c *Checker) ExpectFrom(device, conv string, from uint64) {
	if device == "" || conv == "" {
		panic("checker: Expect needs a device and a conversation")
	}
	from = max(from, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	k := pairKey{c.devices.id(device), c.conv(conv)}
	if f, ok := c.expects[k]; !ok || from < f {
		c.expects[k] = from
	}
}

// Stored records a message the store holds that no recorded Send made: a
// membership or system event, say. Its deliveries are not unexpected, and
// expecting devices must get it like an acknowledged message.
func (c *Checker) Stored(conv string, seq uint64, msgID string) {
	if conv == "" || msgID == "" || seq == 0 {
		panic("checker: Stored needs a conversation, a seq and a message id")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	m := c.msg(msgID)
	c.msgs[m].stored = true
	c.place(m, c.conv(conv), seq)
}

// conv interns a conversation id.
func (c *Checker) conv(s string) int32 {
	cv := c.convs.id(s)
	for len(c.convMax) <= int(cv) {
		c.convMax = append(c.convMax, 0)
	}
	return cv
}

// raise notes that seq exists in conversation cv.
func (c *Checker) raise(cv int32, seq uint64) {
	c.convMax[cv] = max(c.convMax[cv], seq)
}

// msg interns a server message id.
func (c *Checker) msg(s string) int32 {
	m := c.msgIDs.id(s)
	if int(m) == len(c.msgs) {
		c.msgs = append(c.msgs, msgInfo{logical: -1, conv: -1})
	}
	return m
}

// logical interns a logical message.
func (c *Checker) logical(sender, cmid string) int32 {
	k := logicalKey{c.users.id(sender), c.cmids.id(cmid)}
	if l, ok := c.logicalIdx[k]; ok {
		return l
	}
	l := int32(len(c.logicals))
	c.logicals = append(c.logicals, logical{key: k, outcome: Unknown, conv: -1})
	c.logicalIdx[k] = l
	return l
}

// stream returns the state of device d in conversation cv.
func (c *Checker) stream(d, cv int32) *stream {
	k := pairKey{d, cv}
	st := c.streams[k]
	if st == nil {
		st = &stream{}
		c.streams[k] = st
	}
	return st
}

// place records that message m sits at (cv, seq).
func (c *Checker) place(m, cv int32, seq uint64) {
	c.raise(cv, seq)
	mi := &c.msgs[m]
	if mi.placed {
		if mi.conv != cv || mi.seq != seq {
			c.conflict(m, "message %s seen at %s seq %d and at %s seq %d",
				c.msgIDs.list[m], c.convs.list[mi.conv], mi.seq, c.convs.list[cv], seq)
		}
		return
	}
	mi.conv, mi.seq, mi.placed = cv, seq, true
	s := slotKey{cv, seq}
	other, ok := c.slots[s]
	if !ok {
		c.slots[s] = m
		return
	}
	c.conflict(m, "%s seq %d carries messages %s and %s", c.convs.list[cv], seq, c.msgIDs.list[other], c.msgIDs.list[m])
}

// bind ties message m to logical message l.
func (c *Checker) bind(m, l int32) {
	mi := &c.msgs[m]
	switch mi.logical {
	case l:
	case -1:
		mi.logical = l
		c.logicals[l].msgs = append(c.logicals[l].msgs, m)
	default:
		c.conflict(m, "message %s carries %s and %s", c.msgIDs.list[m], c.logicalName(mi.logical), c.logicalName(l))
	}
}

func (c *Checker) conflict(m int32, format string, args ...any) {
	if !c.msgs[m].conflict {
		c.msgs[m].conflict = true
		c.note(kindConflicts, format, args...)
	}
}

// logicalName is "sender/clientMsgID".
func (c *Checker) logicalName(l int32) string {
	k := c.logicals[l].key
	return c.users.list[k.sender] + "/" + c.cmids.list[k.cmid]
}

// guaranteed returns the highest position the server must still know for
// st: that of the latest acknowledgement no crash can have lost. An
// acknowledgement can have been lost if a crash came after it (within the
// ack window, when one is set); acknowledgements are cumulative, so the
// latest one that survived bounds everything below it.
func (c *Checker) guaranteed(st *stream) uint64 {
	if st.gOK && st.gAcks == len(st.acks) && st.gCrashes == len(c.crashes) {
		return st.g
	}
	var g uint64
	for i := len(st.acks) - 1; i >= 0; i-- {
		if c.survives(st.acks[i]) {
			g = st.acks[i].pos
			break
		}
		if c.window == 0 {
			break // every earlier acknowledgement precedes the same crash
		}
	}
	st.gOK, st.gAcks, st.gCrashes, st.g = true, len(st.acks), len(c.crashes), g
	return g
}

// survives reports whether no crash recorded so far can have lost a.
func (c *Checker) survives(a ackMark) bool {
	j := sort.Search(len(c.crashes), func(j int) bool { return c.crashes[j].clock > a.clock })
	if j == len(c.crashes) {
		return true
	}
	return c.window > 0 && c.crashes[j].at.Sub(a.at) > c.window
}
