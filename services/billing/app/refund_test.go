package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/billing/app"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
)

func TestRefund_InvalidRequestsNeverReachTheStore(t *testing.T) {
	s, f := newService(t)
	ctx := context.Background()
	user, tx := openFunded(t, f, 10), uuid.NewString()
	ok := app.RefundRequest{UserID: user, TransactionID: tx, RequestID: "k"}
	with := func(change func(r *app.RefundRequest)) app.RefundRequest {
		r := ok
		change(&r)
		return r
	}
	for _, tt := range []struct {
		name  string
		req   app.RefundRequest
		field string
	}{
		{"malformed user", with(func(r *app.RefundRequest) { r.UserID = "u" }), "user_id"},
		{"no withdrawal named", with(func(r *app.RefundRequest) { r.TransactionID = "" }), "transaction_id"},
		{"both names", with(func(r *app.RefundRequest) { r.OrderID = uuid.NewString() }), "transaction_id"},
		{"malformed transaction", with(func(r *app.RefundRequest) { r.TransactionID = "t-1" }), "transaction_id"},
		{"malformed order", with(func(r *app.RefundRequest) { r.TransactionID, r.OrderID = "", "o-1" }), "order_id"},
		{"negative amount", with(func(r *app.RefundRequest) { r.Amount = -1 }), "amount"},
		{"amount past the maximum", with(func(r *app.RefundRequest) { r.Amount = 1e15 + 1 }), "amount"},
		{"no key", with(func(r *app.RefundRequest) { r.RequestID = "" }), "request_id"},
		{"reason too long", with(func(r *app.RefundRequest) { r.Reason = strings.Repeat("é", billing.MaxRefundReasonLen+1) }), "reason"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Refund(ctx, tt.req)
			var e *apperr.Error
			if apperr.KindOf(err) != apperr.KindInvalid || !errors.As(err, &e) || e.Field != tt.field {
				t.Fatalf("Refund = %v, want invalid %s", err, tt.field)
			}
		})
	}
	if m := f.movements(); len(m) != 0 {
		t.Fatalf("store asked for movements %+v by invalid requests", m)
	}
	// The longest reason passes.
	long := with(func(r *app.RefundRequest) { r.Reason = strings.Repeat("é", billing.MaxRefundReasonLen) })
	if _, err := s.Refund(ctx, long); apperr.ReasonOf(err) != "TRANSACTION_NOT_FOUND" {
		t.Fatalf("Refund with the longest reason = %v, want TRANSACTION_NOT_FOUND from the store", err)
	}
}

func TestRefund_CanonicalIDsReachTheStore(t *testing.T) {
	s, f := newService(t)
	user, order := uuid.MustParse(openFunded(t, f, 10)), uuid.New()
	_, err := s.Refund(context.Background(), app.RefundRequest{UserID: strings.ToUpper(user.String()),
		OrderID: strings.ToUpper(order.String()), RequestID: "k", Reason: "cancelled"})
	if apperr.ReasonOf(err) != "TRANSACTION_NOT_FOUND" {
		t.Fatalf("Refund = %v, want TRANSACTION_NOT_FOUND", err)
	}
	moved := f.movements()
	if len(moved) != 1 {
		t.Fatalf("moves %d, want 1", len(moved))
	}
	if m := moved[0]; m.Kind != billing.Refund || m.UserID != user.String() || m.RefundOrder != order.String() ||
		m.RefundOf != "" || m.RefundReason != "cancelled" || m.Amount != 0 {
		t.Fatalf("store got %+v", m)
	}
}

// Refunds count as movements of kind refund: applied with the money they
// gave back, refused by reason, and retries as replays.
func TestRefund_Metrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := newStore(t)
	s, err := app.New(store, app.Config{DefaultCurrency: "CHF", Metrics: app.NewMetrics(reg, "CHF")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	user := openFunded(t, store, 0)
	if _, err := s.Deposit(ctx, user, 100, "", "d"); err != nil {
		t.Fatal(err)
	}
	w, err := s.Withdraw(ctx, user, 60, "", "w", "")
	if err != nil {
		t.Fatal(err)
	}
	refund := func(amount int64, key string) error {
		_, err := s.Refund(ctx, app.RefundRequest{UserID: user, TransactionID: w.Transaction.ID, Amount: amount, RequestID: key})
		return err
	}
	for _, step := range []struct {
		name   string
		err    error
		reason string
	}{
		{"part", refund(20, "r1"), ""},
		{"part again", refund(20, "r1"), ""},
		{"the rest", refund(0, "r2"), ""},
		{"more", refund(1, "r3"), "REFUND_EXCEEDS_REMAINING"},
		{"more again", refund(1, "r3"), "REFUND_EXCEEDS_REMAINING"},
		{"unknown", func() error {
			_, err := s.Refund(ctx, app.RefundRequest{UserID: user, TransactionID: uuid.NewString(), RequestID: "r4"})
			return err
		}(), "TRANSACTION_NOT_FOUND"},
	} {
		if apperr.ReasonOf(step.err) != step.reason || (step.reason == "" && step.err != nil) {
			t.Fatalf("%s: %v, want reason %q", step.name, step.err, step.reason)
		}
	}
	m := metrictest.Gather(t, reg)
	m.Expect(t, []metrictest.Want{
		metrictest.Series("kassa_billing_movements_total", 2, "kind", "refund", "currency", "CHF"),
		metrictest.Series("kassa_billing_movement_amount_minor_units_total", 60, "kind", "refund", "currency", "CHF"),
		metrictest.Series("kassa_billing_movements_refused_total", 1, "kind", "refund", "reason", "REFUND_EXCEEDS_REMAINING"),
		metrictest.Series("kassa_billing_movements_refused_total", 1, "kind", "refund", "reason", "TRANSACTION_NOT_FOUND"),
		metrictest.Series("kassa_billing_movements_refused_total", 0, "kind", "refund", "reason", "NOT_REFUNDABLE"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 1, "kind", "refund", "outcome", "applied"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 1, "kind", "refund", "outcome", "refused"),
	})
}
