package core

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley/internal/ratelimit"
	"github.com/parley-im/parley/protocol"
)

// Metrics are the core's Prometheus metrics.
type Metrics struct {
	Connections    *prometheus.GaugeVec // by protocol
	Disconnects    *prometheus.CounterVec
	Sends          *prometheus.CounterVec // by protocol
	Duplicates     prometheus.Counter
	Acks           prometheus.Counter
	Deliveries     *prometheus.CounterVec // by protocol
	CommitBatch    prometheus.Histogram
	CommitLatency  prometheus.Histogram
	CommitErrors   prometheus.Counter
	QueueOverflows prometheus.Counter
	BusErrors      prometheus.Counter
	Purged         prometheus.Counter
	// DispatchQueue is how many committed batches wait to be published.
	DispatchQueue prometheus.Gauge
	// RateLimited counts refusals by limit (the ratelimit.Limit* names):
	// the core counts sends and per-user connections, the gateways the
	// rest.
	RateLimited *prometheus.CounterVec
	// PasswordChecks counts password checks by outcome: cached (a
	// remembered success, nothing hashed), hashed, busy (refused).
	PasswordChecks *prometheus.CounterVec
	// NoticeCopies counts the copies of system notices stored;
	// NoticeChunkSeconds times their transactions (notices.go).
	NoticeCopies       prometheus.Counter
	NoticeChunkSeconds prometheus.Histogram
}

// NewMetrics creates the metrics and registers them with reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "parley_connections", Help: "Attached client connections on this node, by protocol."}, []string{"protocol"}),
		Disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_disconnects_total", Help: "Closed connections by reason."}, []string{"reason"}),
		Sends:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_sends_total", Help: "Messages and events stored and acknowledged, by the protocol of the request."}, []string{"protocol"}),
		Duplicates:  prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_send_duplicates_total", Help: "Sends that repeated a client message id (answered with the original ack)."}),
		Acks:        prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_device_acks_total", Help: "Device acknowledgements that advanced a position."}),
		Deliveries:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_deliveries_total", Help: "Messages queued or written to connections, by the connection's protocol."}, []string{"protocol"}),
		CommitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_commit_batch_size", Help: "Entries per store transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		CommitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_commit_seconds", Help: "Duration of a store commit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		CommitErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_commit_errors_total", Help: "Failed store commits (no ack was sent)."}),
		QueueOverflows: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_queue_overflows_total", Help: "Connections closed because their outbound queue overflowed."}),
		BusErrors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_bus_errors_total", Help: "Failed bus publishes (receivers repair from the store)."}),
		Purged:         prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_messages_purged_total", Help: "Messages deleted by retention."}),
		DispatchQueue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "parley_dispatch_queue",
			Help: "Committed batches waiting to be published (local fan-out and answers, then the bus)."}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_rate_limited_total",
			Help: "Attempts refused by a rate or connection limit, by limit."}, []string{"limit"}),
	}
	m.PasswordChecks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_password_checks_total",
		Help: "Password checks by outcome: cached (answered by a remembered success, no hashing), hashed (argon2id ran), busy (refused: no free slot in time)."},
		[]string{"outcome"})
	for _, o := range []string{"cached", "hashed", "busy"} {
		m.PasswordChecks.WithLabelValues(o)
	}
	m.NoticeCopies = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_notice_copies_total",
		Help: "Copies of system notices stored in users' system conversations."})
	m.NoticeChunkSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_notice_chunk_seconds",
		Help:    "Duration of one chunk of a system notice: the store transaction that stores its copies.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12)})
	for _, p := range protocols { // every protocol is exported from zero
		m.Connections.WithLabelValues(p)
		m.Sends.WithLabelValues(p)
		m.Deliveries.WithLabelValues(p)
	}
	for _, name := range ratelimit.Names {
		m.RateLimited.WithLabelValues(name) // every limit is exported from zero
	}
	if reg != nil {
		reg.MustRegister(m.Connections, m.Disconnects, m.Sends, m.Duplicates, m.Acks, m.Deliveries,
			m.CommitBatch, m.CommitLatency, m.CommitErrors, m.QueueOverflows, m.BusErrors, m.Purged, m.DispatchQueue, m.RateLimited, m.PasswordChecks)
		reg.MustRegister(m.NoticeCopies, m.NoticeChunkSeconds)
	}
	return m
}

// closeReason is the reason label of parley_disconnects_total for a close
// code.
func closeReason(code int) string {
	switch code {
	case protocol.CloseShutdown:
		return "shutdown"
	case protocol.CloseSlowConsumer:
		return "slow_consumer"
	case protocol.CloseTakeover:
		return "takeover"
	case protocol.CloseWriteFailed:
		return "write_failed"
	case protocol.ClosePingTimeout:
		return "ping_timeout"
	case protocol.CloseAuthTimeout:
		return "auth_timeout"
	case protocol.CloseAuthFailed:
		return "auth_failed"
	case protocol.CloseRevoked:
		return "revoked"
	case protocol.CloseKicked:
		return "kicked"
	case protocol.CloseBadProtocol:
		return "bad_protocol"
	case protocol.CloseTooManyConnections:
		return "conn_limit"
	case protocol.CloseFlapping:
		return "flapping"
	case 1000, 1001: // normal closure, going away
		return "client"
	case 1002, 1003, 1007: // protocol error, unsupported data, invalid payload (RFC 6455 7.4.1)
		return "protocol_error"
	case 1008: // policy violation: ping flood, consecutive malformed frames
		return "policy"
	case 1009: // message too big
		return "too_big"
	}
	return "other"
}
