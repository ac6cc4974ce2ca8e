package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-im/parley/internal/auth"
	"github.com/parley-im/parley/internal/bus"
	"github.com/parley-im/parley/internal/bus/local"
	"github.com/parley-im/parley/internal/bus/rabbitmq"
	"github.com/parley-im/parley/internal/config"
	"github.com/parley-im/parley/internal/core"
	httpapi "github.com/parley-im/parley/internal/gateway/http"
	"github.com/parley-im/parley/internal/gateway/mqtt"
	"github.com/parley-im/parley/internal/gateway/ws"
	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/internal/store"
	"github.com/parley-im/parley/internal/store/postgres"
	"github.com/parley-im/parley/internal/store/sqlite"
)

// Version is the build version, set with
// -ldflags "-X github.com/parley-im/parley/internal/app.Version=v1.2.3".
var Version = "dev"

// App is a running Parley server.
type App struct {
	cfg  config.Config
	log  *slog.Logger
	lock *DirLock // the data directory's, held for the server's life
	st   store.Store
	core *core.Core

	ln       net.Listener
	debugLn  net.Listener // profiling endpoints (debug.pprof_addr); nil if off
	debugSrv *http.Server
	httpSrv  *http.Server
	localLn  net.Listener // the admin socket in the data directory; nil if none
	localSrv *http.Server
	adminLn  net.Listener // admin.addr: the admin API and /metrics; nil if off
	adminSrv *http.Server
	ws       *ws.Server
	mqtt     *mqtt.Server
	mqttTCP  net.Addr // nil if MQTT over TCP is off
	mqttTLS  net.Addr // nil if MQTT over TLS is off

	ctx     context.Context // the gateways' context; cancelled at shutdown
	cancel  context.CancelFunc
	coreErr chan error
	bus     bus.Bus // closed after the core stops
	ready   bool
	mu      sync.Mutex

	shutdownOnce sync.Once
	shutdownErr  error
}

// postgresOpenTimeout bounds connecting to PostgreSQL and migrating its
// schema at start (another node holding the migration lock included).
const postgresOpenTimeout = 2 * time.Minute

// OpenStore opens the configured store.
func OpenStore(cfg config.Config, log *slog.Logger) (store.Store, error) {
	return openStore(cfg, log, nil)
}

// openStore is OpenStore; retries, if not nil, counts the PostgreSQL
// store's write transactions run again after a conflict.
func openStore(cfg config.Config, log *slog.Logger, retries prometheus.Counter) (store.Store, error) {
	switch cfg.Store.Driver {
	case "sqlite":
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		db, err := sqlite.Open(cfg.SQLitePath(), sqlite.Options{Unsafe: cfg.Store.Unsafe, BusyTimeout: cfg.Store.BusyTimeout, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", cfg.SQLitePath(), err)
		}
		return db, nil
	case "postgres":
		ctx, cancel := context.WithTimeout(context.Background(), postgresOpenTimeout)
		defer cancel()
		opts := postgres.Options{Unsafe: cfg.Store.Unsafe, Logger: log}
		if retries != nil {
			opts.Retried = retries.Inc
		}
		db, err := postgres.Open(ctx, cfg.Store.PostgresURL, opts)
		if err != nil {
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
		return db, nil
	default:
		return nil, fmt.Errorf("store.driver %q is not available in this version of parley (use sqlite or postgres)", cfg.Store.Driver)
	}
}

// busConnectTimeout bounds the first connection to the broker at start.
const busConnectTimeout = 30 * time.Second

// OpenBus connects the configured bus for the node named node.
func OpenBus(ctx context.Context, cfg config.Config, node string, log *slog.Logger) (bus.Bus, error) {
	switch cfg.Bus.Driver {
	case "local":
		return local.New(), nil
	case "rabbitmq":
		ctx, cancel := context.WithTimeout(ctx, busConnectTimeout)
		defer cancel()
		b, err := rabbitmq.New(ctx, rabbitmq.Config{URL: cfg.Bus.RabbitMQURL, NodeID: node, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open rabbitmq bus: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("bus.driver %q is not available in this version of parley (use local or rabbitmq)", cfg.Bus.Driver)
	}
}

// NewCore builds a core on st from cfg, with the in-process bus, without
// starting it; the admin CLI uses it for account commands.
func NewCore(cfg config.Config, st store.Store, log *slog.Logger, reg prometheus.Registerer) (*core.Core, error) {
	return newCore(cfg, st, local.New(), "", log, reg)
}

// newCore builds a core on st and b, named node ("": a generated name).
func newCore(cfg config.Config, st store.Store, b bus.Bus, node string, log *slog.Logger, reg prometheus.Registerer) (*core.Core, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	key, err := signingKey(cfg.Auth.SigningKey, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	signer, err := auth.NewSigner(key)
	if err != nil {
		return nil, err
	}
	ext, err := auth.NewExternal(externalConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("external tokens: %w", err)
	}
	return core.New(core.Options{
		Store: st, Bus: b, NodeID: node, Signer: signer, External: ext, Logger: log.With("component", "core"),
		Metrics: core.NewMetrics(reg),
		Limits: core.Limits{MaxMessageBytes: cfg.Limits.MaxMessageBytes, HistoryPageMax: cfg.Limits.HistoryPageMax,
			OutboundQueueMessages: cfg.Limits.OutboundQueueMessages, OutboundQueueBytes: cfg.Limits.OutboundQueueBytes,
			DevicesPerUser: cfg.Limits.DevicesPerUser, BlocksPerUser: cfg.Limits.BlocksPerUser,
			PresenceGroupMax: cfg.Social.PresenceGroupMax},
		Passwords: auth.VerifierOptions{Concurrency: cfg.Auth.PasswordConcurrency, Wait: cfg.Auth.PasswordWait},
		Timeouts: core.Timeouts{AccessTTL: cfg.Auth.AccessTTL, RefreshTTL: cfg.Auth.RefreshTTL,
			AckFlushInterval: cfg.Timeouts.AckFlushInterval, PresenceCoalesce: cfg.Timeouts.PresenceCoalesce,
			WriteTimeout: cfg.Timeouts.WriteTimeout, DeviceExpiry: cfg.Timeouts.DeviceExpiry, CommitMaxWait: cfg.Store.CommitMaxWait},
		Retention: core.Retention{MaxAge: cfg.Retention.MaxAge, CheckInterval: cfg.Retention.CheckInterval},
		RateLimits: core.RateLimits{SendsPerSecond: cfg.RateLimits.SendsPerUserPerSecond, SendBurst: cfg.RateLimits.SendBurst,
			ConnectionsPerUser: cfg.RateLimits.ConnectionsPerUser, FlappingPerMinute: cfg.RateLimits.FlappingConnectsPerMinute,
			FlappingBan: cfg.RateLimits.FlappingBan, OpsPerSecond: cfg.RateLimits.OpsPerUserPerSecond, OpsBurst: cfg.RateLimits.OpsBurst,
			QueriesPerSecond: cfg.RateLimits.QueriesPerUserPerSecond, QueryBurst: cfg.RateLimits.QueryBurst,
			TypingInterval: cfg.RateLimits.TypingInterval},
		Moments: core.MomentOptions{FollowsPerUser: cfg.Moments.FollowsPerUser, MaxMomentBytes: cfg.Moments.MaxMomentBytes,
			AudienceMax: cfg.Moments.AudienceMax, PostsPerHour: cfg.Moments.PostsPerUserPerHour, CommentsPerHour: cfg.Moments.CommentsPerUserPerHour},
		Social:            core.Social{FriendRequestsPerHour: cfg.RateLimits.FriendRequestsPerUserPerHour, InboundDefault: cfg.Social.InboundDefault},
		Invitations:       core.Invitations{MaxMembers: cfg.Limits.GroupMembers, InvitesPerHour: cfg.RateLimits.GroupInvitesPerUserPerHour, GroupAddDefault: cfg.Social.GroupAddDefault},
		Broadcasts:        core.BroadcastOptions{MaxRecipients: cfg.Limits.BroadcastRecipients, ListsPerUser: cfg.Limits.BroadcastListsPerUser, CopiesPerHour: cfg.RateLimits.BroadcastCopiesPerUserPerHour},
		AllowRegistration: cfg.Auth.AllowRegistration,
		Notices: core.NoticeOptions{UsersPerSecond: cfg.Notices.UsersPerSecond, ChunkUsers: cfg.Notices.ChunkUsers,
			ChunkTime: cfg.Notices.ChunkTime, PerMinute: cfg.Notices.PerMinute, TagsPerUser: cfg.Notices.TagsPerUser},
	})
}

// Start opens the store, starts the core and the gateways, and returns once
// the listeners accept connections. On failure it undoes what it started.
func Start(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *App, err error) {
	if err := Validate(cfg); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	a := &App{cfg: cfg, log: log, coreErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			a.rollback()
		}
	}()
	// No second server, and no restore, on this data directory while
	// this one runs: it would share (or replace) the database under it.
	if a.lock, err = LockDataDir(cfg.DataDir, "serve"); err != nil {
		if errors.Is(err, ErrDataDirInUse) {
			return nil, fmt.Errorf("%w: stop it first, or give this server a data directory of its own (--data-dir)", err)
		}
		return nil, err
	}
	retries := prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_store_retries_total",
		Help: "PostgreSQL write transactions run again after they conflicted with another (store.driver: postgres)."})
	if a.st, err = openStore(cfg, log.With("component", "store"), retries); err != nil {
		return nil, err
	}
	node := core.NewNodeID()
	if a.bus, err = OpenBus(ctx, cfg, node, log.With("component", "bus")); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoGauge(), retries)
	if a.core, err = newCore(cfg, a.st, a.bus, node, log, reg); err != nil {
		return nil, err
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	go func() { a.coreErr <- a.core.Run(a.ctx) }()

	proxies, err := ratelimit.ParseProxies(cfg.HTTP.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("http.trusted_proxies: %w", err)
	}
	// One gate for every gateway that holds connections (MQTT too), so
	// that the per-address limits hold across protocols.
	conns := ratelimit.NewIPGate(ratelimit.ConnLimits{
		PerIP: cfg.RateLimits.ConnectionsPerIP, PerIPPerMinute: cfg.RateLimits.ConnectsPerIPPerMinute,
		FlappingPerMinute: cfg.RateLimits.FlappingIPConnectsPerMinute, Ban: cfg.RateLimits.FlappingBan,
	}, nil)
	a.ws = ws.New(a.ctx, a.core, ws.Options{
		AllowedOrigins: cfg.HTTP.AllowedOrigins, MaxFrameBytes: int64(cfg.Limits.MaxFrameBytes),
		AuthDeadline: cfg.Timeouts.AuthDeadline, PingInterval: cfg.Timeouts.PingInterval, PongTimeout: cfg.Timeouts.PongTimeout,
		JSONMaxDepth: cfg.Limits.JSONMaxDepth, MaxConsecutiveErrors: cfg.Limits.MaxConsecutiveErrors,
		WriteTimeout: cfg.Timeouts.WriteTimeout, Proxies: proxies, Conns: conns,
		ServerVersion: Version, Logger: log.With("component", "ws"),
	})
	// One budget of failed passwords per address and account, whether the
	// guesses come by HTTP login or MQTT CONNECT.
	logins := httpapi.NewLogins(cfg.RateLimits.LoginPerIPPerMinute, cfg.RateLimits.LoginPerAccountPerMinute,
		cfg.RateLimits.LoginSuccessPerAccountPerMinute)
	if a.mqtt, err = mqtt.New(a.ctx, a.core, mqtt.Options{
		Root: cfg.MQTT.Root, MaxPacketBytes: cfg.MQTT.MaxPacketBytes, AuthDeadline: cfg.Timeouts.AuthDeadline,
		WriteTimeout: cfg.Timeouts.WriteTimeout, KeepAlive: cfg.MQTT.KeepAlive, MaxKeepAlive: cfg.MQTT.MaxKeepAlive,
		ReceiveMaximum: uint16(cfg.MQTT.ReceiveMaximum), SendWindow: cfg.MQTT.SendWindow, MaxSubscriptions: cfg.MQTT.MaxSubscriptions,
		AllowedOrigins: cfg.HTTP.AllowedOrigins, Proxies: proxies, Conns: conns, Logins: logins, Logger: log.With("component", "mqtt"),
	}); err != nil {
		return nil, err
	}
	if cfg.MQTT.Addr != "" {
		if a.mqttTCP, err = a.mqtt.Listen(cfg.MQTT.Addr, nil); err != nil {
			return nil, listenError("MQTT over TCP", "mqtt.addr, --mqtt-addr", err)
		}
	}
	if cfg.MQTT.TLSAddr != "" {
		cert, err := tls.LoadX509KeyPair(cfg.MQTT.TLSCert, cfg.MQTT.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("mqtt tls: %w", err)
		}
		if a.mqttTLS, err = a.mqtt.Listen(cfg.MQTT.TLSAddr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}); err != nil {
			return nil, listenError("MQTT over TLS", "mqtt.tls_addr", err)
		}
	}
	var mqttWS http.Handler
	if cfg.MQTT.WebSocket {
		mqttWS = a.mqtt
	}
	api := httpapi.New(a.core, httpapi.Options{
		MaxBodyBytes: int64(cfg.Limits.MaxFrameBytes), JSONMaxDepth: cfg.Limits.JSONMaxDepth, AdminKey: cfg.Auth.AdminKey,
		Ready: a.isReady, Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), WebSocket: a.ws, MQTT: mqttWS,
		AllowedOrigins: cfg.HTTP.AllowedOrigins,
		Logins:         logins,
		Proxies:        proxies, Logger: log.With("component", "http"),
		AdminFailuresPerMinute: cfg.Admin.FailuresPerIPPerMinute, SeparateAdmin: cfg.Admin.Addr != "",
		Requests: ratelimit.NewIPGate(ratelimit.ConnLimits{PerIP: cfg.HTTP.RequestsPerIP,
			PerIPPerMinute: cfg.HTTP.RequestsPerIPPerMinute, Noun: "requests"}, nil),
		RequestTimeout: cfg.HTTP.RequestTimeout,
		Registerer:     reg,
	})
	if err = a.startDebug(); err != nil {
		return nil, err
	}
	if err = a.startAdmin(api, proxies); err != nil {
		return nil, err
	}
	a.startLocalAdmin(api.LocalAdmin())
	if a.ln, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
		return nil, listenError("HTTP", "http.addr, --http-addr", fmt.Errorf("listen on %s: %w", cfg.HTTP.Addr, err))
	}
	a.httpSrv = &http.Server{
		Handler:           httpapi.WithRequestLog(api, log.With("component", "http"), proxies),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		var err error
		if cfg.HTTP.TLSCert != "" {
			err = a.httpSrv.ServeTLS(a.ln, cfg.HTTP.TLSCert, cfg.HTTP.TLSKey)
		} else {
			err = a.httpSrv.Serve(a.ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
	}()
	if err := a.lock.Update(func(h *Holder) {
		h.HTTP = a.URL()
		h.MQTT = a.MQTTAddr()
	}); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.ready = true
	a.mu.Unlock()
	log.Info("parley started", "http", a.Addr(), "mqtt", addrString(a.mqttTCP), "mqtts", addrString(a.mqttTLS), "data_dir", cfg.DataDir, "store", cfg.Store.Driver, "bus", cfg.Bus.Driver, "node", a.core.NodeID())
	return a, nil
}

// listenError says which setting chose the address a listener could not
// bind, and for a port in use what may hold it.
func listenError(what, setting string, err error) error {
	err = fmt.Errorf("%s (%s): %w", what, setting, err)
	if errors.Is(err, syscall.EADDRINUSE) {
		hint := "another program listens there"
		if strings.HasPrefix(what, "MQTT") {
			hint = "another MQTT broker, such as a local Mosquitto, may hold the port"
		}
		off := ""
		if setting == "mqtt.addr, --mqtt-addr" {
			off = ", or turn MQTT over TCP off with mqtt.addr: \"\" (--mqtt-addr '')"
		}
		err = fmt.Errorf("%w; %s: choose another address with %s%s", err, hint, strings.SplitN(setting, ",", 2)[0], off)
	}
	return err
}

// Addr is the address the HTTP and WebSocket listener is bound to.
func (a *App) Addr() string { return a.ln.Addr().String() }

// URL is the base URL of the HTTP and WebSocket listener.
func (a *App) URL() string {
	if a.cfg.HTTP.TLSCert != "" {
		return "https://" + a.Addr()
	}
	return "http://" + a.Addr()
}

// MQTTAddr is the address MQTT over TCP is bound to; "" if it is off.
func (a *App) MQTTAddr() string { return addrString(a.mqttTCP) }

// MQTTTLSAddr is the address MQTT over TLS is bound to; "" if it is off.
func (a *App) MQTTTLSAddr() string { return addrString(a.mqttTLS) }

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Core returns the running core.
func (a *App) Core() *core.Core { return a.core }

// Store returns the running server's store. The composition root is the
// only way to it: gateways reach the data through the core.
func (a *App) Store() store.Store { return a.st }

func (a *App) isReady() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

// Banner writes where the server listens and, while there is no user yet,
// how to create the first one.
func (a *App) Banner(w io.Writer) {
	if a.debugLn != nil {
		// Before the listening line, which tools wait for.
		fmt.Fprintf(w, "parley profiling on http://%s/debug/pprof/\n", a.debugLn.Addr())
	}
	if u := a.AdminURL(); u != "" {
		fmt.Fprintf(w, "parley listening on %s (WebSocket: /v1/ws)\n", a.URL())
		fmt.Fprintf(w, "parley admin API and metrics on %s (/v1/admin/, /metrics)\n", u)
	} else {
		fmt.Fprintf(w, "parley listening on %s (WebSocket: /v1/ws, metrics: /metrics)\n", a.URL())
	}
	if a.mqttTCP != nil {
		fmt.Fprintf(w, "parley MQTT on mqtt://%s (topics under %s/, docs/mqtt.md)\n", a.mqttTCP, a.cfg.MQTT.Root)
	}
	if a.mqttTLS != nil {
		fmt.Fprintf(w, "parley MQTT over TLS on mqtts://%s\n", a.mqttTLS)
	}
	fmt.Fprintf(w, "data directory: %s\n", a.cfg.DataDir)
	if !a.hasUsers() {
		fmt.Fprintf(w, "create the first user: parley user add NAME --password PASSWORD --data-dir %s\n", a.cfg.DataDir)
	}
}

// hasUsers reports whether the store holds a user (when in doubt, no).
func (a *App) hasUsers() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	us, err := a.core.ListUsers(ctx, "", 1)
	return err == nil && len(us) > 0
}

// Shutdown stops the server gracefully: it stops accepting, closes the
// connections spread over the lame-duck window (clients reconnect and
// resume), lets pending commits finish, flushes positions and closes the
// store. If ctx ends first, what remains is cut short. Idempotent.
func (a *App) Shutdown(ctx context.Context) error {
	a.shutdownOnce.Do(func() { a.shutdownErr = a.shutdown(ctx) })
	return a.shutdownErr
}

func (a *App) shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.ready = false
	a.mu.Unlock()
	a.log.Info("shutting down", "lame_duck", a.cfg.Timeouts.LameDuck)
	var errs []error
	// Stop accepting; hijacked WebSocket connections are not affected.
	sctx, cancel := context.WithTimeout(ctx, a.cfg.Timeouts.ShutdownGrace)
	if err := a.httpSrv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if a.adminSrv != nil {
		if err := a.adminSrv.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("admin listener shutdown: %w", err))
		}
	}
	cancel()
	a.mqtt.Close()
	a.core.CloseAll(ctx, a.cfg.Timeouts.LameDuck)
	// Let the close frames ("server restarting") reach the clients.
	if err := a.ws.Wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("websocket connections did not close: %w", err))
	}
	if err := a.mqtt.Wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("mqtt connections did not close: %w", err))
	}
	a.rollback()
	select {
	case err := <-a.coreErr:
		if err != nil {
			errs = append(errs, err)
		}
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("core did not stop: %w", ctx.Err()))
	}
	if a.bus != nil {
		if err := a.bus.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close bus: %w", err))
		}
		a.bus = nil
	}
	if a.st != nil {
		if err := a.st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
		a.st = nil
	}
	a.lock.Release() // last: nothing uses the data directory any more
	return errors.Join(errs...)
}

// rollback stops what Start started, in reverse order (used on a failed
// start and by shutdown).
func (a *App) rollback() {
	if a.debugSrv != nil {
		a.debugSrv.Close() // the listener and any connection
	}
	a.stopLocalAdmin()
	if a.adminSrv != nil {
		a.adminSrv.Close()
	} else if a.adminLn != nil {
		a.adminLn.Close()
	}
	if a.ln != nil && a.httpSrv == nil {
		a.ln.Close()
	}
	if a.mqtt != nil && a.httpSrv == nil {
		// Start failed before serving: no connection was accepted, so
		// this only stops the listeners and the engine's event loop.
		a.mqtt.Close()
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeouts.ShutdownGrace)
		if err := a.mqtt.Wait(ctx); err != nil {
			a.log.Warn("mqtt gateway did not stop", "err", err)
		}
		cancel()
	}
	if a.core != nil {
		a.core.Close()
	}
	if a.cancel != nil {
		a.cancel()
	}
	if a.st != nil && a.httpSrv == nil {
		// Start failed before serving: nothing else uses the store.
		if a.core != nil {
			<-a.coreErr
		}
		if a.bus != nil {
			a.bus.Close()
			a.bus = nil
		}
		a.st.Close()
		a.st = nil
	}
	if a.httpSrv == nil {
		a.lock.Release()
	}
}
