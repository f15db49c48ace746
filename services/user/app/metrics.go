package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics counts the user service's registrations and repairs. docs/observability.md
// lists every series.
type Metrics struct {
	created  prometheus.Counter // users inserted
	replays  prometheus.Counter // CreateUser retries answered with the first user
	repaired prometheus.Counter // pending users the repair loop finished
	// parked counts users parked by this process; parkedItems is how many
	// are parked now, across replicas, as of this process's last pass.
	parked      prometheus.Counter
	parkedItems prometheus.Gauge
}

// NewMetrics creates the counters and registers them on reg (nil: not
// registered, as in unit tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		created: f.NewCounter(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "user", Name: "users_created_total",
			Help: "Users registered (inserted; a retry of CreateUser is not counted).",
		}),
		replays: f.NewCounter(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "user", Name: "idempotent_replays_total",
			Help: "CreateUser calls retried with a known request_id and answered with the first user.",
		}),
		repaired: f.NewCounter(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "user", Name: "pending_users_repaired_total",
			Help: "Users left without a billing account by a failed CreateUser whose account the repair loop opened.",
		}),
		parked: f.NewCounter(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "user", Name: "parked_total",
			Help: "Pending users this process parked: the repair loop failed to open their billing account as many times as the retry policy allows.",
		}),
		parkedItems: f.NewGauge(prometheus.GaugeOpts{
			Namespace: "kassa", Subsystem: "user", Name: "parked_items",
			Help: "Users parked now (all replicas; counted in the database on every repair pass): no longer retried until UserAdminService.RetryParked releases them.",
		}),
	}
}
