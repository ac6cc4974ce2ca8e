package core

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the core's Prometheus metrics.
type Metrics struct {
	Connections    prometheus.Gauge
	Disconnects    *prometheus.CounterVec
	Sends          prometheus.Counter
	Duplicates     prometheus.Counter
	Acks           prometheus.Counter
	Deliveries     prometheus.Counter
	CommitBatch    prometheus.Histogram
	CommitLatency  prometheus.Histogram
	CommitErrors   prometheus.Counter
	QueueOverflows prometheus.Counter
	BusErrors      prometheus.Counter
	Purged         prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: none).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "parley_connections", Help: "Attached client connections on this node."}),
		Disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_disconnects_total", Help: "Closed connections by reason."}, []string{"reason"}),
		Sends:       prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_sends_total", Help: "Messages and events stored and acknowledged."}),
		Duplicates:  prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_send_duplicates_total", Help: "Sends that repeated a client message id (answered with the original ack)."}),
		Acks:        prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_device_acks_total", Help: "Device acknowledgements that advanced a position."}),
		Deliveries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_deliveries_total", Help: "Messages queued or written to connections."}),
		CommitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_commit_batch_size", Help: "Entries per store transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		CommitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_commit_seconds", Help: "Duration of a store commit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		CommitErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_commit_errors_total", Help: "Failed store commits (no ack was sent)."}),
		QueueOverflows: prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_queue_overflows_total", Help: "Connections closed because their outbound queue overflowed."}),
		BusErrors:      prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_bus_errors_total", Help: "Failed bus publishes (receivers repair from the store)."}),
		Purged:         prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_messages_purged_total", Help: "Messages deleted by retention."}),
	}
	if reg != nil {
		reg.MustRegister(m.Connections, m.Disconnects, m.Sends, m.Duplicates, m.Acks, m.Deliveries,
			m.CommitBatch, m.CommitLatency, m.CommitErrors, m.QueueOverflows, m.BusErrors, m.Purged)
	}
	return m
}

func closeReason(code int) string {
	switch code {
	case 3000:
		return "shutdown"
	case 3001:
		return "slow_consumer"
	case 3505:
		return "takeover"
	case 3003:
		return "ping_timeout"
	case 3500:
		return "auth_timeout"
	case 3501:
		return "auth_failed"
	case 3502:
		return "revoked"
	case 3503:
		return "kicked"
	case 3504:
		return "bad_protocol"
	case 1000, 1001:
		return "client"
	}
	return "other"
}
