package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/bus"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/protocol"
)

// Limits bound what one client may ask for.
type Limits struct {
	MaxMessageBytes       int // body + payload
	HistoryPageMax        int
	OutboundQueueMessages int
	OutboundQueueBytes    int
	// DevicesPerUser caps a user's devices: a new device beyond it is
	// refused with ErrTooManyDevices at login or connect; 0: no cap.
	DevicesPerUser int
	// BlocksPerUser caps the users one user may block: a new block beyond
	// it is refused with ErrTooManyBlocks; 0: no cap.
	BlocksPerUser int
	// PresenceGroupMax is the largest group whose members see each
	// other's presence (presencevis.go); 0: groups share no presence.
	PresenceGroupMax int
}

// RateLimits bound how fast one user may act, on this node; a zero field
// turns its limit off. Refusals are *ratelimit.Error (ErrRateLimited).
type RateLimits struct {
	// SendsPerSecond and SendBurst are a token bucket per user shared by
	// sends, edits and deletes from all the user's connections and HTTP.
	SendsPerSecond int
	SendBurst      int
	// ConnectionsPerUser bounds the user's attached connections (a
	// takeover of the same device does not add one).
	ConnectionsPerUser int
	// FlappingPerMinute bans a (user, device) that attaches more often
	// than this within a minute for FlappingBan.
	FlappingPerMinute int
	FlappingBan       time.Duration
	// OpsPerSecond and OpsBurst are a token bucket per user for acks,
	// reads and typing; QueriesPerSecond and QueryBurst one for history,
	// conversation and member lists, presence and resumes (DESIGN.md
	// §2.15). TypingInterval coalesces typing: at most one relayed per
	// sender and conversation in it.
	OpsPerSecond     int
	OpsBurst         int
	QueriesPerSecond int
	QueryBurst       int
	TypingInterval   time.Duration
}

// Timeouts are every wait in the core; tests set them short.
type Timeouts struct {
	AccessTTL        time.Duration
	RefreshTTL       time.Duration
	AckFlushInterval time.Duration
	PresenceCoalesce time.Duration
	WriteTimeout     time.Duration
	DeviceExpiry     time.Duration
	// CommitMaxWait is the longest a commit waits for more sends to share
	// it (see gatherer); 0: never.
	CommitMaxWait time.Duration
}

// Options configure a Core.
type Options struct {
	Store             store.Store
	Bus               bus.Bus
	Signer            *auth.Signer
	External          *auth.External // nil: no application-signed tokens
	Logger            *slog.Logger
	Metrics           *Metrics // nil: a private registry
	NodeID            string
	Limits            Limits
	Timeouts          Timeouts
	Retention         Retention
	RateLimits        RateLimits
	AllowRegistration bool
	// Passwords bounds concurrent password hashing and sizes the cache of
	// successful checks (zero fields take auth's defaults; Observe is the
	// core's own).
	Passwords auth.VerifierOptions
	// Social configures friend requests and who may message whom
	// (friends.go, inbound.go).
	Social Social
	// Moments bounds follows and moments (follows.go, moments.go).
	Moments MomentOptions
	// Invitations configures group invitations, direct adds and the
	// member limit (invites.go).
	Invitations Invitations
	// Broadcasts bound broadcasts and broadcast lists (broadcast.go).
	Broadcasts BroadcastOptions
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Notices bound system notices and tags (notices.go).
	Notices NoticeOptions
}

// Core is the messaging core. Create it with New, start it with Run.
type Core struct {
	st                store.Store
	bus               bus.Bus
	signer            *auth.Signer
	ext               *auth.External
	log               *slog.Logger
	metrics           *Metrics
	node              string
	limits            Limits
	to                Timeouts
	retention         Retention
	rateLimits        RateLimits
	allowRegistration bool
	now               func() time.Time

	sendLimit *ratelimit.Limiter  // per user; nil: off
	bcasts    *broadcasts         // the broadcast budget and slots
	flapping  *ratelimit.Flapping // per (user, device); nil: off
	budget    *budgets            // per user, per operation class
	passwords *auth.Verifier      // every argon2id computation goes through it
	friends   *friends            // the friend request budget and the inbound policy
	moments   *moments            // the moments' budgets and live fan-out
	invites   *invitations        // the invitation budget, the member limit, who may add whom

	commit   *committer
	dispatch *stage // local fan-out, then answers (dispatch.go)
	busOut   *stage // publishes to the other nodes
	hub      *hub
	members  *memberCache
	blocks   *blockCache
	acks     *ackBuffer
	touches  *touchBuffer
	presence *presence
	notices  *notices // system notices, sent in the background

	singleNode bool     // the bus connects no other node: skip publishing
	convSubs   convSubs // this node's subscriptions to conversation topics (cluster.go)
	seenSeqs   seqCache

	// flushMu serializes flushes of the write buffer (held from the
	// committer's takeWrites to writesDone) with device revocation and
	// user deletion. Whoever holds it must not wait for the committer.
	flushMu sync.Mutex

	seenMu   sync.Mutex
	lastSeen map[devID]time.Time // when a device was last marked seen by an authenticated request

	purgeNow chan struct{} // asks the retention job for a pass now

	deliveredMu sync.Mutex
	delivered   map[userConv]uint64 // highest delivered seq per user and direct conversation

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// New validates opts and returns a Core that is not yet running.
func New(opts Options) (*Core, error) {
	if opts.Store == nil || opts.Bus == nil || opts.Signer == nil {
		return nil, errors.New("core: store, bus and signer are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NodeID == "" {
		opts.NodeID = NewNodeID()
	}
	l := &opts.Limits
	if l.MaxMessageBytes <= 0 || l.HistoryPageMax <= 0 || l.OutboundQueueMessages <= 0 || l.OutboundQueueBytes <= 0 {
		return nil, fmt.Errorf("core: limits must be positive: %+v", *l)
	}
	t := &opts.Timeouts
	if t.AccessTTL <= 0 || t.RefreshTTL <= 0 || t.AckFlushInterval <= 0 || t.PresenceCoalesce <= 0 || t.WriteTimeout <= 0 {
		return nil, fmt.Errorf("core: timeouts must be positive: %+v", *t)
	}
	if err := opts.Retention.withDefaults(); err != nil {
		return nil, err
	}
	if d := opts.Social.InboundDefault; d != "" && d != protocol.InboundAnyone && d != protocol.InboundFriends {
		return nil, fmt.Errorf("core: the default inbound setting must be %q or %q, is %q", protocol.InboundAnyone, protocol.InboundFriends, d)
	}
	if err := opts.Moments.withDefaults(l.MaxMessageBytes); err != nil {
		return nil, err
	}
	if d := opts.Invitations.GroupAddDefault; d != "" && d != protocol.GroupAddAnyone && d != protocol.GroupAddFriends {
		return nil, fmt.Errorf("core: the default group_add setting must be %q or %q, is %q", protocol.GroupAddAnyone, protocol.GroupAddFriends, d)
	}
	c := &Core{
		st: opts.Store, bus: opts.Bus, signer: opts.Signer, ext: opts.External,
		log: opts.Logger, metrics: opts.Metrics, node: opts.NodeID,
		limits: opts.Limits, to: opts.Timeouts, retention: opts.Retention, rateLimits: opts.RateLimits, allowRegistration: opts.AllowRegistration,
		now: opts.Now, closed: make(chan struct{}), delivered: make(map[userConv]uint64), lastSeen: make(map[devID]time.Time),
		purgeNow: make(chan struct{}, 1), convSubs: convSubs{n: make(map[string]int)},
	}
	if sn, ok := c.bus.(bus.SingleNode); ok && sn.SingleNode() {
		c.singleNode = true
	}
	if rl := opts.RateLimits; rl.SendsPerSecond > 0 {
		c.sendLimit = ratelimit.NewLimiter(float64(rl.SendsPerSecond), time.Second, max(1, rl.SendBurst), c.now)
	}
	if rl := opts.RateLimits; rl.FlappingPerMinute > 0 && rl.FlappingBan > 0 {
		c.flapping = ratelimit.NewFlapping(rl.FlappingPerMinute, time.Minute, rl.FlappingBan, c.now)
	}
	popt := opts.Passwords
	popt.Observe = func(o auth.Outcome) { c.metrics.PasswordChecks.WithLabelValues(o.String()).Inc() }
	c.passwords = auth.NewVerifier(popt)
	c.bcasts = newBroadcasts(c, opts.Broadcasts)
	c.friends = newFriends(c, opts.Social)
	c.moments = newMoments(c, opts.Moments)
	c.invites = newInvitations(c, opts.Invitations)
	c.budget = newBudgets(c, opts.RateLimits)
	c.hub = newHub()
	c.members = newMemberCache(c.st)
	c.blocks = newBlockCache(c.st)
	c.dispatch, c.busOut = newStage(c.metrics.DispatchQueue), newStage(c.metrics.DispatchQueue)
	c.commit = newCommitter(c.st, c.metrics, c.now, c.log, opts.Timeouts.CommitMaxWait, c.committed)
	c.acks = newAckBuffer()
	c.touches = newTouchBuffer()
	c.commit.side = c
	c.presence = newPresence(c)
	c.notices = newNotices(c, opts.Notices)
	return c, nil
}

// NodeID names this node on the bus.
func (c *Core) NodeID() string { return c.node }

// NewNodeID returns a name for a node, unique among the nodes of a
// cluster: "node-" and random letters and digits.
func NewNodeID() string { return "node-" + NewGroupID()[2:14] }

// Run starts the core's goroutines (committer, ack flusher, bus receiver,
// presence, device expiry, retention) and blocks until ctx is done or Close
// is called; it then flushes pending acks and returns.
func (c *Core) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.moments.out.run(ctx) }() // the live fan-out of moments
	c.wg.Add(9)
	go func() { defer c.wg.Done(); c.resumeErasures(ctx) }()
	go func() { defer c.wg.Done(); c.commit.run(ctx) }()
	go func() { defer c.wg.Done(); c.dispatch.run(ctx) }()
	go func() { defer c.wg.Done(); c.busOut.run(ctx) }()
	go func() { defer c.wg.Done(); c.runDeviceExpiry(ctx) }()
	go func() { defer c.wg.Done(); c.runRetention(ctx) }()
	go func() { defer c.wg.Done(); c.runFlusher(ctx) }()
	go func() { defer c.wg.Done(); c.presence.run(ctx) }()
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.notices.run(ctx) }()
	go func() { defer c.wg.Done(); c.watchBus(ctx) }()
	busErr := make(chan error, 1)
	if err := c.subscribeCluster(ctx); err != nil {
		// Other nodes' invalidations are lost until a restart.
		c.log.Error("bus: subscribe to the cluster topic", "err", err)
	}
	c.presence.publishPresenceSnapshot(true) // none online here yet; learn who is elsewhere
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.presence.runHeartbeat(ctx) }()
	go func() { defer c.wg.Done(); busErr <- c.bus.Run(ctx, c.onBus) }()
	<-ctx.Done()
	c.wg.Wait()
	// Flush what devices acknowledged, so a graceful restart redelivers nothing.
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelFlush()
	if err := c.flushDirect(flushCtx); err != nil {
		c.log.Error("flush acks at shutdown", "err", err)
	}
	if err := <-busErr; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("bus: %w", err)
	}
	return nil
}

// Close stops Run. It is safe to call more than once.
func (c *Core) Close() { c.closeOnce.Do(func() { close(c.closed) }) }

// Metrics returns the core's metrics.
func (c *Core) Metrics() *Metrics { return c.metrics }

// Online reports how many connections are attached to this node.
func (c *Core) Online() int { return c.hub.count() }

// CloseAll closes every attached connection with a "server restarting"
// reason, spread evenly over window so that clients do not all reconnect at
// once (lame duck). It returns early, closing the rest at once, if ctx ends.
func (c *Core) CloseAll(ctx context.Context, window time.Duration) {
	clients := c.hub.all()
	if len(clients) == 0 {
		return
	}
	step := window / time.Duration(len(clients))
	for i, cl := range clients {
		cl.Close(protocol.CloseShutdown, "server restarting: reconnect and resume")
		if step <= 0 || i == len(clients)-1 {
			continue
		}
		select {
		case <-ctx.Done():
			step = 0
		case <-time.After(step):
		}
	}
}
