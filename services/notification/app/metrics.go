package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics counts the letters the notification service stores.
// docs/observability.md lists every series.
type Metrics struct {
	stored  *prometheus.CounterVec // letters stored, by whether they are about an order
	replays prometheus.Counter     // retries answered with the stored letter
}

// NewMetrics creates the counters and registers them on reg (nil: not
// registered, as in unit tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		stored: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "notification", Name: "letters_stored_total",
			Help: "Letters stored (sent), by kind: order (an order's outcome letter) or other.",
		}, []string{"kind"}),
		replays: f.NewCounter(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "notification", Name: "idempotent_replays_total",
			Help: "SendNotification calls retried with a known request_id and answered with the letter stored first.",
		}),
	}
	m.stored.WithLabelValues("order")
	m.stored.WithLabelValues("other")
	return m
}

func letterKind(orderID string) string {
	if orderID != "" {
		return "order"
	}
	return "other"
}
