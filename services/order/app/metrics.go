package app

import (
	"github.com/kassa-dev/kassa/services/order"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics counts orders and the money they moved. Amounts are in minor
// units of the currency label (cents for USD), so they add up only within
// one currency. docs/observability.md lists every series.
type Metrics struct {
	orders   *prometheus.CounterVec // orders that reached a final status
	amount   *prometheus.CounterVec // their prices
	declines *prometheus.CounterVec // billing's refusals, by reason
	replays  prometheus.Counter     // CreateOrder retries answered with the first order
	repaired *prometheus.CounterVec // orders the repair loop claimed, by result
	// parkedItems is the number of parked steps now, by step; parked
	// counts the steps ever parked.
	parkedItems *prometheus.GaugeVec
	parked      *prometheus.CounterVec
	// cancels counts CancelOrder outcomes; refunds the money of the
	// refunds recorded, refundOutcomes billing's answers to refunds.
	cancels        *prometheus.CounterVec
	refunds        *prometheus.CounterVec
	refundOutcomes *prometheus.CounterVec
}

// Refund outcomes, the outcome label of kassa_order_refunds_total.
const (
	refundMade    = "refunded" // billing gave the money back and this worker recorded it
	refundFailed  = "failed"   // billing did not answer; retried later
	refundRefused = "refused"  // billing refused for good; parked
)

// Cancellation outcomes, the outcome label of kassa_order_cancellations_total.
const (
	cancelRefunded   = "refunded"   // this call recorded the refund
	cancelUnchanged  = "unchanged"  // rejected, or cancelled before: nothing to do
	cancelUnfinished = "unfinished" // billing or the database failed; the repair loop finishes it
)

// declineReasons are billing's refusal reasons; their series start at
// zero so that alerts see the first decline as an increase.
var declineReasons = []string{"INSUFFICIENT_FUNDS", "ACCOUNT_CLOSED", "ACCOUNT_NOT_FOUND", "CURRENCY_MISMATCH"}

// NewMetrics creates the counters and registers them on reg (nil: not
// registered, as in unit tests). The series of currency are created at zero.
func NewMetrics(reg prometheus.Registerer, currency string) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		orders: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "orders_total",
			Help: "Orders that reached their final status (paid or rejected), counted once each when billing's answer is recorded.",
		}, []string{"status"}),
		amount: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "amount_minor_units_total",
			Help: "Prices of the orders counted in kassa_order_orders_total, in minor units of the currency (cents for USD): paid is money taken, rejected money not taken.",
		}, []string{"status", "currency"}),
		declines: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "payment_declines_total",
			Help: "Withdrawals billing refused for good while paying an order, by ErrorInfo reason; each makes the order rejected.",
		}, []string{"reason"}),
		replays: f.NewCounter(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "idempotent_replays_total",
			Help: "CreateOrder calls retried with a known request_id and answered with (and finishing) the first order.",
		}),
		repaired: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "repairs_total",
			Help: "Unfinished orders (pending, or without their letter) the repair loop resumed, by result: finished or failed (a peer still failing).",
		}, []string{"result"}),
		parkedItems: f.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "kassa", Subsystem: "order", Name: "parked_items",
			Help: "Steps of orders (payment, letter, refund) the background loops gave up on after too many failed attempts, or refunds billing refused for good, that wait for an operator (OrderAdminService), as counted at the last pass.",
		}, []string{"step"}),
		parked: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "parked_total",
			Help: "Steps of orders (payment, letter, refund) parked after too many failed attempts, or a refund refused for good.",
		}, []string{"step"}),
		cancels: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "cancellations_total",
			Help: "CancelOrder calls (cancels and partial refunds) by outcome: refunded (this call recorded a refund), unchanged (nothing to do: rejected, cancelled before, or a retry already made) or unfinished (billing did not make the refund; the repair loop finishes it, or an operator a parked one).",
		}, []string{"outcome"}),
		refunds: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "refunded_minor_units_total",
			Help: "Money billing gave back of orders (cancellations and partial refunds), counted once per refund when it is recorded, in minor units of the currency.",
		}, []string{"currency"}),
		refundOutcomes: f.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kassa", Subsystem: "order", Name: "refunds_total",
			Help: "Billing's answers to the refunds of orders, by outcome: refunded (given back and recorded, once per refund), failed (no answer; retried later) or refused (refused for good; the refund is parked).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{refundMade, refundFailed, refundRefused} {
		m.refundOutcomes.WithLabelValues(o)
	}
	for _, o := range []string{cancelRefunded, cancelUnchanged, cancelUnfinished} {
		m.cancels.WithLabelValues(o)
	}
	if currency != "" {
		m.refunds.WithLabelValues(currency)
	}
	for _, s := range []order.Status{order.Paid, order.Rejected} {
		m.orders.WithLabelValues(string(s))
		if currency != "" {
			m.amount.WithLabelValues(string(s), currency)
		}
	}
	for _, r := range declineReasons {
		m.declines.WithLabelValues(r)
	}
	m.repaired.WithLabelValues("finished")
	m.repaired.WithLabelValues("failed")
	for _, step := range order.Steps {
		m.parkedItems.WithLabelValues(string(step))
		m.parked.WithLabelValues(string(step))
	}
	return m
}

// settled records an order whose final status was just stored.
func (m *Metrics) settled(o order.Order) {
	m.orders.WithLabelValues(string(o.Status)).Inc()
	m.amount.WithLabelValues(string(o.Status), o.Currency).Add(float64(o.Price))
}

// PaymentDeclined records billing's refusal, with its ErrorInfo reason
// ("" when billing gave none), of an order's withdrawal.
func (m *Metrics) PaymentDeclined(reason string) {
	if m == nil {
		return
	}
	if reason == "" {
		reason = "OTHER"
	}
	m.declines.WithLabelValues(reason).Inc()
}
