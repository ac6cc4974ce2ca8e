package config

import (
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole configuration of `parley serve`. The yaml tag of each
// field is its key in the config file and, uppercased with "_" separators
// behind "PARLEY_", its environment variable; the doc tag is the comment
// DefaultYAML writes above it.
type Config struct {
	DataDir    string     `yaml:"data_dir" doc:"Directory for Parley's own files: the SQLite database and a generated token signing key."`
	HTTP       HTTP       `yaml:"http" doc:"The HTTP listener, which serves the REST API and WebSocket connections on one port."`
	Store      Store      `yaml:"store" doc:"Where messages and accounts are stored: the source of truth."`
	Bus        Bus        `yaml:"bus" doc:"How nodes tell each other about committed messages (a latency path, never the source of truth)."`
	Auth       Auth       `yaml:"auth" doc:"Tokens, registration, the admin API and external identity providers."`
	Limits     Limits     `yaml:"limits" doc:"Size and count limits, shared by every gateway."`
	RateLimits RateLimits `yaml:"rate_limits" doc:"Rate and connection limits, shared by every gateway and kept per node. The client address is the TCP peer's, or behind a trusted proxy (http.trusted_proxies) the one it forwarded; IPv6 addresses count per /64. Refusals answer 429 with a Retry-After header (HTTP, WebSocket upgrade) or an error with retry_after_ms (WebSocket), and are counted in parley_rate_limited_total."`
	Timeouts   Timeouts   `yaml:"timeouts" doc:"Deadlines and intervals, as Go durations such as 200ms, 10s, 15m or 720h."`
	Retention  Retention  `yaml:"retention" doc:"How long messages are kept. Old messages are deleted from the start of each conversation; seqs are never reused, and history says where it starts (start_seq)."`
	Log        Log        `yaml:"log" doc:"Logging."`
	MQTT       MQTT       `yaml:"mqtt" doc:"The MQTT 3.1.1/5.0 gateway (docs/mqtt.md): TCP, TLS and WebSocket (/mqtt on the HTTP listener)."`
	Debug      Debug      `yaml:"debug" doc:"Diagnostics for operators."`
	Admin      Admin      `yaml:"admin" doc:"Where the admin API (/v1/admin/..., authenticated with auth.admin_key) and /metrics are served, and how failed admin authentications are limited."`
	Moments    Moments    `yaml:"moments" doc:"Follows and the moments feed (docs/protocol.md, Follows and moments): limits of follows, of posts and comments."`
	Social     Social     `yaml:"social" doc:"The social graph (docs/protocol.md 2.14): friends and who may message whom."`
	Notices    Notices    `yaml:"notices" doc:"Server-side tags of users and system notices sent to tag expressions (docs/operations.md, Tags and system notices)."`
}

// Notices configures tags and system notices.
type Notices struct {
	UsersPerSecond int           `yaml:"users_per_second" doc:"Copies of system notices stored per second, all notices together: a notice to a million users takes at least a million divided by this many seconds, in the background, so that chat keeps its latency meanwhile."`
	ChunkUsers     int           `yaml:"chunk_users" doc:"Most copies of a notice stored in one transaction (one chunk). Chunks also shrink while they take longer than chunk_time."`
	ChunkTime      time.Duration `yaml:"chunk_time" doc:"Longest one chunk of a notice should hold the store's writer: sends wait for it meanwhile. Chunks shrink (to 100 copies at least) while they take longer, and grow back to chunk_users while they take less than half."`
	PerMinute      int           `yaml:"per_minute" doc:"System notices one admin may create per minute (a token bucket holding a minute's worth); more are refused with 429."`
	TagsPerUser    int           `yaml:"tags_per_user" doc:"Most tags one user may carry."`
}

// Social configures the social graph.
type Social struct {
	PresenceGroupMax int    `yaml:"presence_group_max" doc:"Largest group whose members see each other's presence (docs/protocol.md 2.9). Presence goes to friends and to co-members of groups of at most this many members, never to blocked users; larger groups share none, so that a change does not cost a push per member."`
	InboundDefault   string `yaml:"inbound_default" doc:"Who may send direct messages to a user who has not chosen (GET/PATCH /v1/me/settings): anyone, or friends (friends and members of a group the user is in; a stranger's message is refused with 403 not_accepted)."`
	GroupAddDefault  string `yaml:"group_add_default" doc:"Who may add a user who has not chosen (group_add in GET/PATCH /v1/me/settings) to a group directly: anyone (any owner or admin of the group), or friends (the user's friends only; anyone else is refused with 403 invite_required and invites the user instead)."`
}

// Moments configures follows and moments.
type Moments struct {
	FollowsPerUser         int `yaml:"follows_per_user" doc:"Most users one user may follow (POST /v1/follows/{user}). A new follow beyond it is refused with 403 too_many_follows; unfollowing one frees a slot. Friends follow each other whatever this says."`
	MaxMomentBytes         int `yaml:"max_moment_bytes" doc:"Largest text and payload of one moment together, in bytes; a larger post is refused with 413. With 64 bytes for each user of audience_max it fits in limits.max_message_bytes: the server lowers both until it does."`
	AudienceMax            int `yaml:"audience_max" doc:"Most users a moment of visibility list may name."`
	PostsPerUserPerHour    int `yaml:"posts_per_user_per_hour" doc:"Moments one user may post per hour, from all connections, MQTT and the HTTP API together (a token bucket holding an hour's worth, refilling evenly); repeats of a client_msg_id count too. A refusal is 429 with retry_after_ms (MQTT 5: PUBACK 0x97)."`
	CommentsPerUserPerHour int `yaml:"comments_per_user_per_hour" doc:"Comments on moments one user may make per hour (a token bucket as for posts). A refusal is 429 with retry_after_ms."`
}

// Admin configures the admin API's listener and its limit.
type Admin struct {
	Addr                   string `yaml:"addr" doc:"Listen address (host:port) of a listener of their own for the admin API and /metrics, which the public listener (http.addr) then no longer serves; bind it to loopback or a private network. It uses HTTPS when http.tls_cert is set. Port 0 picks a free port. Empty serves both on http.addr."`
	FailuresPerIPPerMinute int    `yaml:"failures_per_ip_per_minute" doc:"Failed admin authentications (a missing or wrong admin key) allowed per client address per minute (a token bucket holding a minute's worth). Beyond them every admin request from that address, even with the right key, is refused with 429 and Retry-After until the bucket refills."`
}

// Debug configures diagnostics.
type Debug struct {
	PprofAddr string `yaml:"pprof_addr" doc:"Listen address of Go's profiling endpoints (/debug/pprof/) as host:port, on a listener of their own; port 0 picks a free port. Empty turns them off. They reveal memory contents and cost CPU while a profile is taken: bind them to loopback or a private network only."`
}

// HTTP configures the HTTP and WebSocket listener.
type HTTP struct {
	Addr           string   `yaml:"addr" doc:"Listen address as host:port; port 0 picks a free port."`
	AllowedOrigins []string `yaml:"allowed_origins" doc:"Origins (such as https://chat.example.com) whose browsers may open WebSocket connections. Empty refuses every browser request that sends an Origin header; non-browser clients, which send none, are accepted."`
	TLSCert        string   `yaml:"tls_cert" doc:"PEM certificate chain file for HTTPS. Set tls_cert and tls_key together, or neither for plain HTTP."`
	TLSKey         string   `yaml:"tls_key" doc:"PEM private key file for HTTPS, paired with tls_cert."`
	TrustedProxies []string `yaml:"trusted_proxies" doc:"IP addresses and CIDR prefixes (such as 10.0.0.0/8) of reverse proxies and load balancers in front of Parley. A request from one of them is taken to come from the rightmost address in its X-Forwarded-For header that is not itself a trusted proxy; the rate limits and the logs use that address. X-Forwarded-For from any other peer is ignored. Empty trusts no proxy: behind one, every client then shares the proxy's address."`
	// ReadHeaderTimeout bounds slowloris clients (BAD_INPUTS W12).
	ReadHeaderTimeout      time.Duration `yaml:"read_header_timeout" doc:"Longest a client may take to send the request line and headers of a request, a WebSocket upgrade included; a slower connection is closed. Bounds clients that trickle headers to hold connections open."`
	RequestTimeout         time.Duration `yaml:"request_timeout" doc:"Longest an HTTP API request may take to send its body and to receive its response (not WebSocket or MQTT connections, which have their own timeouts); a slower request's connection is closed."`
	IdleTimeout            time.Duration `yaml:"idle_timeout" doc:"How long an idle keep-alive HTTP connection is kept open between requests."`
	RequestsPerIP          int           `yaml:"requests_per_ip" doc:"HTTP API requests in progress at once per client address; more are refused with 429 and a Retry-After."`
	RequestsPerIPPerMinute int           `yaml:"requests_per_ip_per_minute" doc:"HTTP API requests per client address per minute (a token bucket holding a minute's worth, refilling evenly); more are refused with 429 and a Retry-After. Health checks count too."`
}

// Store configures the storage backend.
type Store struct {
	Driver        string        `yaml:"driver" doc:"Storage backend: sqlite (embedded, one node) or postgres (cluster mode)."`
	SQLitePath    string        `yaml:"sqlite_path" doc:"SQLite database file. Empty means parley.db inside data_dir."`
	PostgresURL   string        `yaml:"postgres_url" doc:"PostgreSQL connection URL, required when driver is postgres."`
	Unsafe        bool          `yaml:"unsafe" doc:"Allow lowered durability (no fsync per commit) for benchmarks and tests. Acknowledged messages may be lost on a crash; Parley logs a loud warning at startup."`
	CommitMaxWait time.Duration `yaml:"commit_max_wait" doc:"Longest a durable commit waits for more sends to share it while sends keep arriving (group commit); it waits only while that gains sends, so a lone or closed-loop sender never waits. Each send that joins saves a whole commit (an fsync). 0 commits at once."`
	BusyTimeout   time.Duration `yaml:"busy_timeout" doc:"How long a SQLite write waits for a lock held by another process (a backup, an operator's sqlite3 shell) before the send fails with 503."`
}

// Bus configures how nodes notify each other.
type Bus struct {
	Driver      string `yaml:"driver" doc:"Bus backend: local (in-process, one node) or rabbitmq (cluster mode)."`
	RabbitMQURL string `yaml:"rabbitmq_url" doc:"AMQP URL of the RabbitMQ broker, required when driver is rabbitmq."`
}

// Auth configures authentication.
type Auth struct {
	SigningKey        string        `yaml:"signing_key" doc:"HMAC key that signs Parley's own access and refresh tokens. Empty means a key is generated once and kept in data_dir."`
	AccessTTL         time.Duration `yaml:"access_ttl" doc:"Lifetime of an access token. An open connection outlives its token."`
	RefreshTTL        time.Duration `yaml:"refresh_ttl" doc:"Lifetime of a refresh token; not shorter than access_ttl."`
	AllowRegistration bool          `yaml:"allow_registration" doc:"Let anyone create an account through the API."`
	AdminKey          string        `yaml:"admin_key" doc:"Secret for the admin API, at least 32 bytes (for example 32 random bytes in hex: openssl rand -hex 32). Empty disables the admin API."`
	External          External      `yaml:"external" doc:"Tokens issued by an external identity provider (an app's own JWTs). Parley accepts them when a key below verifies them."`
	// Password hashing is bounded (DESIGN.md §2.15): each argon2id
	// computation takes 19 MiB and about 30 ms of a core.
	PasswordConcurrency int           `yaml:"password_concurrency" doc:"Password hashes (argon2id, 19 MiB and about 30 ms of CPU each) computed at once, for logins, MQTT CONNECTs with a password and new passwords; the rest wait their turn. 0 means one per CPU core (GOMAXPROCS). Successful checks are remembered (65,536 users at most), so a client that reconnects with the same password is not hashed again."`
	PasswordWait        time.Duration `yaml:"password_wait" doc:"Longest a login or MQTT CONNECT waits for its turn to hash before it is refused as busy (HTTP 503 with Retry-After, MQTT 5 CONNACK 0x89, MQTT 3.1.1 return code 3). Keep it well below the connect timeout of your clients."`
}

// External configures the verification of JWTs issued outside Parley.
type External struct {
	HMACSecret     string   `yaml:"hmac_secret" doc:"Shared secret for HS256/HS384/HS512 tokens. Empty accepts none."`
	PublicKeyFiles []string `yaml:"public_key_files" doc:"PEM files with RSA or ECDSA public keys for RS*/PS*/ES* tokens."`
	JWKSFile       string   `yaml:"jwks_file" doc:"JSON Web Key Set file with public keys, an alternative to public_key_files."`
	Issuer         string   `yaml:"issuer" doc:"Required iss claim of external tokens. Empty does not check it."`
	Audience       string   `yaml:"audience" doc:"Required aud claim of external tokens. Empty does not check it."`
}

// Limits holds size and count limits. All must be positive.
type Limits struct {
	MaxMessageBytes       int `yaml:"max_message_bytes" doc:"Largest message body in bytes, the one limit for every gateway (at most 2 MiB)."`
	MaxFrameBytes         int `yaml:"max_frame_bytes" doc:"Largest WebSocket message or MQTT packet in bytes; must be larger than max_message_bytes to leave room for the envelope."`
	HistoryPageMax        int `yaml:"history_page_max" doc:"Most messages one history page or conversation list returns (at most 1000); every page also stops at 1 MiB of messages, and resume pages carry at most 100."`
	OutboundQueueMessages int `yaml:"outbound_queue_messages" doc:"Messages queued for one connection before it is closed as a slow consumer; it resumes from its position."`
	OutboundQueueBytes    int `yaml:"outbound_queue_bytes" doc:"Bytes queued for one connection before it is closed as a slow consumer."`
	JSONMaxDepth          int `yaml:"json_max_depth" doc:"Deepest nesting of objects and arrays accepted in a JSON frame."`
	MaxConsecutiveErrors  int `yaml:"max_consecutive_errors" doc:"Malformed WebSocket request frames in a row (not JSON, a field of the wrong type, a duplicated key, an unknown op) after which the connection is closed with 1008; a well-formed frame starts the count again."`
	DevicesPerUser        int `yaml:"devices_per_user" doc:"Most devices one user may have. A new device beyond it (a login, an MQTT client id or an application token naming a device the user does not have yet) is refused with 403 too_many_devices, WebSocket close 3506, MQTT CONNACK 0x97 (3.1.1: 5); the user's existing devices keep working, and revoking one (DELETE /v1/devices/{device}) or its expiry frees a slot."`
	BlocksPerUser         int `yaml:"blocks_per_user" doc:"Most users one user may block (PUT /v1/blocks/{user}). A new block beyond it is refused with 403 too_many_blocks; unblocking one frees a slot."`
	GroupMembers          int `yaml:"group_members" doc:"Most members a group may have. Creating a larger group, adding a member, accepting an invitation, joining with an invite link or asking to join beyond it is refused with 403 group_full, checked in the transaction that would add the member; an invitation or join request stays pending until there is room."`
	BroadcastRecipients   int `yaml:"broadcast_recipients" doc:"Most recipients of one broadcast (POST /v1/broadcasts, the WebSocket broadcast op, MQTT IMS/<self>/Broadcast), and most users of one broadcast list (at most 1000, so that a broadcast's answer fits in a frame). A larger request is refused with 400."`
	BroadcastListsPerUser int `yaml:"broadcast_lists_per_user" doc:"Most broadcast lists one user may have. A new list beyond it is refused with 403 too_many_lists; deleting one frees a slot."`
}

// RateLimits holds the rate and connection limits. All must be positive.
type RateLimits struct {
	LoginPerIPPerMinute             int           `yaml:"login_per_ip_per_minute" doc:"Failed password logins allowed per client address per minute (a token bucket holding a minute's worth, refilling evenly). Successful logins do not count."`
	LoginPerAccountPerMinute        int           `yaml:"login_per_account_per_minute" doc:"Failed password logins allowed per account name, from all addresses together, per minute. Successful logins do not count."`
	LoginSuccessPerAccountPerMinute int           `yaml:"login_success_per_account_per_minute" doc:"Successful password logins (HTTP login and MQTT CONNECT with a password together) allowed per account name per minute, with bursts of as many. Beyond it the account's logins are refused as rate limited, before any password is checked, until the bucket refills; keep it above limits.devices_per_user so that all of a user's devices can reconnect at once."`
	SendsPerUserPerSecond           int           `yaml:"sends_per_user_per_second" doc:"Sends, edits and deletes allowed per user per second, from all the user's connections and the HTTP API together (a token bucket refilling at this rate). A refused send is not stored; the client retries it with the same client_msg_id after retry_after_ms."`
	SendBurst                       int           `yaml:"send_burst" doc:"Sends a user may make at once before sends_per_user_per_second applies (the size of the bucket)."`
	OpsPerUserPerSecond             int           `yaml:"ops_per_user_per_second" doc:"Acks, read positions and typing notices allowed per user per second, from all the user's connections and the HTTP API together (a token bucket refilling at this rate). The acknowledgement MQTT makes of each delivery (PUBACK) is not counted. A refusal is 429 with retry_after_ms; nothing was changed."`
	OpsBurst                        int           `yaml:"ops_burst" doc:"Acks, reads and typing notices a user may make at once before ops_per_user_per_second applies."`
	QueriesPerUserPerSecond         int           `yaml:"queries_per_user_per_second" doc:"History pages, conversation lists, member lists, presence queries and resumes allowed per user per second, all connections and HTTP together: each reads the store for the client. A refusal is 429 with retry_after_ms."`
	QueryBurst                      int           `yaml:"query_burst" doc:"Queries a user may make at once before queries_per_user_per_second applies."`
	TypingInterval                  time.Duration `yaml:"typing_interval" doc:"Typing is coalesced: per user and conversation at most one typing notice is relayed to the members in this interval; the others are accepted and not relayed."`
	ConnectionsPerUser              int           `yaml:"connections_per_user" doc:"Open connections allowed per user. A further device is refused after hello with close code 3004; a device reconnecting replaces its own connection and is not refused."`
	ConnectionsPerIP                int           `yaml:"connections_per_ip" doc:"Open WebSocket connections allowed per client address. Further upgrades are refused with 429 before the WebSocket exists."`
	ConnectsPerIPPerMinute          int           `yaml:"connects_per_ip_per_minute" doc:"New WebSocket connections allowed per client address per minute (a token bucket holding a minute's worth, refilling evenly); further upgrades are refused with 429 and a Retry-After until a connection is allowed again."`
	FlappingConnectsPerMinute       int           `yaml:"flapping_connects_per_minute" doc:"A device (user and device id) that connects more often than this within a minute is banned for flapping_ban: its connections are refused after hello with close code 3005. Stops reconnect loops, such as two clients fighting over one device id."`
	FlappingIPConnectsPerMinute     int           `yaml:"flapping_ip_connects_per_minute" doc:"A client address that attempts more WebSocket connections than this within a minute, refused attempts included, is banned for flapping_ban: its upgrades are refused with 429 until the ban ends. Keep it above connects_per_ip_per_minute, so that a client first gets the gentler refusal."`
	FlappingBan                     time.Duration `yaml:"flapping_ban" doc:"How long a flapping device or address stays banned."`
	FriendRequestsPerUserPerHour    int           `yaml:"friend_requests_per_user_per_hour" doc:"Friend requests allowed per user per hour, from all the user's connections and the HTTP API together (a token bucket holding an hour's worth, refilling evenly); repeats and requests to unknown users count too. A refusal is 429 with retry_after_ms."`
	GroupInvitesPerUserPerHour      int           `yaml:"group_invites_per_user_per_hour" doc:"Group invitations allowed per user per hour, all connections and the HTTP API together (a token bucket holding an hour's worth, refilling evenly): each user an invitation names counts, repeats included, and so does each user invited when a group is created. One request may name at most this many. A refusal is 429 with retry_after_ms; nobody was invited."`
	BroadcastCopiesPerUserPerHour   int           `yaml:"broadcast_copies_per_user_per_hour" doc:"Copies of broadcasts a user may send per hour (one per recipient not reached yet), from all the user's connections and the HTTP API together, apart from the send budget (a token bucket holding an hour's worth, refilling evenly). A broadcast that needs more copies than the bucket holds is refused whole with 429 and retry_after_ms, storing nothing; skipped recipients are given back. At least limits.broadcast_recipients, so that the largest broadcast can pass."`
}

// Timeouts holds deadlines and intervals. All must be positive.
type Timeouts struct {
	AuthDeadline     time.Duration `yaml:"auth_deadline" doc:"Time a new connection has to authenticate before it is closed."`
	PingInterval     time.Duration `yaml:"ping_interval" doc:"Interval between server pings on every WebSocket connection."`
	PongTimeout      time.Duration `yaml:"pong_timeout" doc:"How long the server waits for the pong of each ping before closing the connection as vanished."`
	WriteTimeout     time.Duration `yaml:"write_timeout" doc:"Deadline for writing one frame to a connection."`
	LameDuck         time.Duration `yaml:"lame_duck" doc:"Window over which connections are closed at shutdown, so clients do not reconnect all at once."`
	ShutdownGrace    time.Duration `yaml:"shutdown_grace" doc:"Longest a shutdown waits for work in progress before it stops anyway."`
	AckFlushInterval time.Duration `yaml:"ack_flush_interval" doc:"Longest a delivery ack or a device's last-seen time waits before it is written with others, in the next commit."`
	PresenceCoalesce time.Duration `yaml:"presence_coalesce" doc:"Window in which presence changes of one user are merged into one event."`
	DeviceExpiry     time.Duration `yaml:"device_expiry" doc:"A device not seen for this long expires together with its positions."`
}

// Retention configures the deletion of old messages.
type Retention struct {
	MaxAge        time.Duration `yaml:"max_age" doc:"Messages older than this are deleted, unless their conversation sets its own retention (PATCH /v1/conversations/{conv}/retention). 0 keeps messages forever."`
	CheckInterval time.Duration `yaml:"check_interval" doc:"How often old messages are looked for and deleted, in short batches."`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level" doc:"Lowest level logged: debug, info, warn or error."`
	Format string `yaml:"format" doc:"Log line format: text or json."`
}

// MQTT configures the MQTT listener.
type MQTT struct {
	Addr             string        `yaml:"addr" doc:"Listen address of MQTT over TCP as host:port; port 0 picks a free port; empty turns MQTT over TCP off."`
	TLSAddr          string        `yaml:"tls_addr" doc:"Listen address of MQTT over TLS (conventionally port 8883); empty turns it off. Needs tls_cert and tls_key."`
	TLSCert          string        `yaml:"tls_cert" doc:"PEM certificate chain file for MQTT over TLS."`
	TLSKey           string        `yaml:"tls_key" doc:"PEM private key file for MQTT over TLS, paired with tls_cert."`
	WebSocket        bool          `yaml:"websocket" doc:"Serve MQTT over WebSocket at /mqtt on the HTTP listener (subprotocol mqtt; wss when HTTP has TLS)."`
	Root             string        `yaml:"root" doc:"First level of every topic of the topic scheme."`
	MaxPacketBytes   int           `yaml:"max_packet_bytes" doc:"Largest MQTT packet a client may send; a larger one ends the connection before it is read. Must be larger than limits.max_message_bytes."`
	KeepAlive        time.Duration `yaml:"keepalive" doc:"Keepalive imposed on clients that ask for none (0) or for more than max_keepalive; MQTT 5 clients are told (Server Keep Alive)."`
	MaxKeepAlive     time.Duration `yaml:"max_keepalive" doc:"Longest keepalive a client may choose. A client silent for 1.5 times its keepalive is disconnected and shown offline."`
	ReceiveMaximum   int           `yaml:"receive_maximum" doc:"QoS 1 and 2 publishes a client may have unacknowledged at once (MQTT 5 Receive Maximum); more end the connection (0x93)."`
	SendWindow       int           `yaml:"send_window" doc:"QoS 1 deliveries that may await their PUBACK at once per connection (never more than the client's Receive Maximum)."`
	MaxSubscriptions int           `yaml:"max_subscriptions" doc:"Topic filters one session may hold; more are refused (0x97)."`
}

// Default returns the configuration used when nothing is set: one node with
// SQLite under ./data, the in-process bus, HTTP on port 8080, MQTT on 1883.
func Default() Config {
	return Config{
		DataDir: "./data",
		HTTP: HTTP{Addr: "0.0.0.0:8080", ReadHeaderTimeout: 10 * time.Second, RequestTimeout: 30 * time.Second,
			IdleTimeout: 120 * time.Second, RequestsPerIP: 256, RequestsPerIPPerMinute: 12000},
		Store: Store{Driver: "sqlite", BusyTimeout: 5 * time.Second, CommitMaxWait: time.Millisecond},
		Bus:   Bus{Driver: "local"},
		Auth: Auth{
			AccessTTL:         15 * time.Minute,
			RefreshTTL:        720 * time.Hour,
			AllowRegistration: true,
			PasswordWait:      2 * time.Second,
		},
		Limits: Limits{
			MaxMessageBytes:       64 << 10,
			MaxFrameBytes:         72 << 10,
			HistoryPageMax:        300,
			OutboundQueueMessages: 128,
			OutboundQueueBytes:    1 << 20,
			JSONMaxDepth:          32,
			MaxConsecutiveErrors:  10,
			DevicesPerUser:        32,
			BlocksPerUser:         10_000,
			GroupMembers:          10_000,
			BroadcastRecipients:   1000,
			BroadcastListsPerUser: 100,
		},
		RateLimits: RateLimits{
			LoginPerIPPerMinute:             30,
			LoginPerAccountPerMinute:        10,
			LoginSuccessPerAccountPerMinute: 60,
			SendsPerUserPerSecond:           50,
			SendBurst:                       500,
			OpsPerUserPerSecond:             1000,
			OpsBurst:                        5000,
			QueriesPerUserPerSecond:         20,
			QueryBurst:                      200,
			TypingInterval:                  3 * time.Second,
			ConnectionsPerUser:              64,
			ConnectionsPerIP:                1000,
			ConnectsPerIPPerMinute:          1000,
			FlappingConnectsPerMinute:       15,
			FlappingIPConnectsPerMinute:     3000,
			FlappingBan:                     5 * time.Minute,
			FriendRequestsPerUserPerHour:    30,
			GroupInvitesPerUserPerHour:      200,
			BroadcastCopiesPerUserPerHour:   2000,
		},
		Timeouts: Timeouts{
			AuthDeadline:     10 * time.Second,
			PingInterval:     25 * time.Second,
			PongTimeout:      10 * time.Second,
			WriteTimeout:     10 * time.Second,
			LameDuck:         5 * time.Second,
			ShutdownGrace:    30 * time.Second,
			AckFlushInterval: 200 * time.Millisecond,
			PresenceCoalesce: 2 * time.Second,
			DeviceExpiry:     720 * time.Hour,
		},
		Retention: Retention{
			CheckInterval: time.Hour,
		},
		Notices: Notices{UsersPerSecond: 20000, ChunkUsers: 1000, ChunkTime: 5 * time.Millisecond,
			PerMinute: 10, TagsPerUser: 32},
		Log: Log{Level: "info", Format: "text"},
		Moments: Moments{FollowsPerUser: 5000, MaxMomentBytes: 16 << 10, AudienceMax: 500,
			PostsPerUserPerHour: 60, CommentsPerUserPerHour: 600},
		MQTT: MQTT{Addr: "0.0.0.0:1883", WebSocket: true, Root: "IMS", MaxPacketBytes: 256 << 10,
			KeepAlive: 60 * time.Second, MaxKeepAlive: 300 * time.Second, ReceiveMaximum: 64, SendWindow: 64, MaxSubscriptions: 128},
		Admin:  Admin{FailuresPerIPPerMinute: 10},
		Social: Social{InboundDefault: "anyone", PresenceGroupMax: 100, GroupAddDefault: "anyone"},
	}
}

// SQLitePath returns the SQLite database file in effect: store.sqlite_path,
// or parley.db inside data_dir when that is empty.
func (c Config) SQLitePath() string {
	if c.Store.SQLitePath != "" {
		return c.Store.SQLitePath
	}
	return filepath.Join(c.DataDir, "parley.db")
}

// logLevels maps the accepted values of log.level to slog levels.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// SlogLevel returns log.level as a slog.Level (case-insensitive). A value
// that Validate would reject yields slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	if lv, ok := logLevels[strings.ToLower(l.Level)]; ok {
		return lv
	}
	return slog.LevelInfo
}
