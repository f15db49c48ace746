package app

import (
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics counts what the billing service does with money. Amounts are in
// minor units of the currency label (cents for USD), so they add up only
// within one currency. Refunds count as movements of kind "refund", so one
// set of counters tells refunds applied, the money they gave back, their
// refusals by reason and their replays. docs/observability.md lists every
// series.
type Metrics struct {
	movements *prometheus.CounterVec // applied deposits, withdrawals and refunds
	amount    *prometheus.CounterVec // money they moved
	refused   *prometheus.CounterVec // refused by a business rule (replays not counted)
	replays   *prometheus.CounterVec // retries answered with the key's first outcome
	opened    prometheus.Counter     // accounts opened
}

// refusalReasons are the ErrorInfo reasons a movement can be refused with.
// Their series start at zero, so an alert sees the first refusal as an
// increase.
var refusalReasons = map[billing.Kind][]string{
	billing.Deposit:    {"ACCOUNT_NOT_FOUND", "ACCOUNT_CLOSED", "CURRENCY_MISMATCH", "BALANCE_LIMIT"},
	billing.Withdrawal: {"ACCOUNT_NOT_FOUND", "ACCOUNT_CLOSED", "CURRENCY_MISMATCH", "INSUFFICIENT_FUNDS"},
	billing.Refund:     {"ACCOUNT_NOT_FOUND", "TRANSACTION_NOT_FOUND", "NOT_REFUNDABLE", "REFUND_EXCEEDS_REMAINING", "BALANCE_LIMIT"},
}

// The outcome label values of the replays counter.
const (
	outcomeApplied = "applied"
	outcomeRefused = "refused"
)

// NewMetrics creates the counters and registers them on reg (nil: not
// registered, as in unit tests). The series of currency are created at zero.
func NewMetrics(reg prometheus.Registerer, currency string) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		movements: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "billing", Name: "movements_total",
			Help: "Deposits, withdrawals and refunds applied to an account, by kind and currency (replays not counted).",
		}, []string{"kind", "currency"}),
		amount: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "billing", Name: "movement_amount_minor_units_total",
			Help: "Money deposited, withdrawn and refunded, in minor units of the currency (cents for USD), by kind and currency.",
		}, []string{"kind", "currency"}),
		refused: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "billing", Name: "movements_refused_total",
			Help: "Deposits, withdrawals and refunds refused by a business rule, by kind and ErrorInfo reason (INSUFFICIENT_FUNDS, ACCOUNT_CLOSED, REFUND_EXCEEDS_REMAINING, ...); a retry answered with the first refusal counts as a replay instead.",
		}, []string{"kind", "reason"}),
		replays: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "billing", Name: "idempotent_replays_total",
			Help: "Deposits, withdrawals and refunds retried with a known key and answered with its first outcome, by kind and outcome (applied: the first entry; refused: the first refusal).",
		}, []string{"kind", "outcome"}),
		opened: f.NewCounter(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "billing", Name: "accounts_opened_total",
			Help: "Accounts opened (a CreateAccount for an existing account is not counted).",
		}),
	}
	for kind, reasons := range refusalReasons {
		k := string(kind)
		m.replays.WithLabelValues(k, outcomeApplied)
		m.replays.WithLabelValues(k, outcomeRefused)
		if currency != "" {
			m.movements.WithLabelValues(k, currency)
			m.amount.WithLabelValues(k, currency)
		}
		for _, r := range reasons {
			m.refused.WithLabelValues(k, r)
		}
	}
	return m
}

// moved records an applied movement.
func (m *Metrics) moved(t billing.Transaction) {
	m.movements.WithLabelValues(string(t.Kind), t.Currency).Inc()
	m.amount.WithLabelValues(string(t.Kind), t.Currency).Add(float64(t.Amount))
}

// refusedBy records a movement a business rule refused; other errors
// (bad requests, a reused key, the database) are left to the gRPC metrics.
func (m *Metrics) refusedBy(kind billing.Kind, err error) {
	switch apperr.KindOf(err) {
	case apperr.KindFailedPrecondition, apperr.KindNotFound:
	default:
		return
	}
	reason := apperr.ReasonOf(err)
	if reason == "" {
		reason = "OTHER"
	}
	m.refused.WithLabelValues(string(kind), reason).Inc()
}
