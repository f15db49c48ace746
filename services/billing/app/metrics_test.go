package app_test

import (
	"context"
	"testing"

	"github.com/kassa-dev/kassa/services/billing/app"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
)

// A retry is answered with its key's first outcome and counted as a replay
// of that outcome, never as a second movement or refusal: the store tells
// the use cases which answers were replays (MoveOnce).
func TestMove_Retries_CountedAsReplays(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := newStore(t)
	s, err := app.New(store, app.Config{DefaultCurrency: "CHF", Metrics: app.NewMetrics(reg, "CHF")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	user := openFunded(t, store, 0)
	for _, step := range []struct {
		name    string
		call    func() error
		refused bool
	}{
		{"deposit", func() error { _, err := s.Deposit(ctx, user, 100, "", "d1"); return err }, false},
		{"deposit again", func() error { _, err := s.Deposit(ctx, user, 100, "", "d1"); return err }, false},
		{"withdrawal", func() error { _, err := s.Withdraw(ctx, user, 60, "", "w1", ""); return err }, false},
		{"withdrawal again", func() error { _, err := s.Withdraw(ctx, user, 60, "", "w1", ""); return err }, false},
		{"overdraft", func() error { _, err := s.Withdraw(ctx, user, 500, "", "w2", ""); return err }, true},
		{"overdraft again", func() error { _, err := s.Withdraw(ctx, user, 500, "", "w2", ""); return err }, true},
		{"overdraft a third time", func() error { _, err := s.Withdraw(ctx, user, 500, "", "w2", ""); return err }, true},
	} {
		err := step.call()
		if refused := apperr.ReasonOf(err) == "INSUFFICIENT_FUNDS"; refused != step.refused || (err != nil && !refused) {
			t.Fatalf("%s: %v, want refused=%v", step.name, err, step.refused)
		}
	}
	if a, _ := store.GetAccount(ctx, user); a.Balance != 40 {
		t.Fatalf("balance %d, want 40: each key applied once", a.Balance)
	}

	m := metrictest.Gather(t, reg)
	m.Expect(t, []metrictest.Want{
		metrictest.Series("kassa_billing_movements_total", 1, "kind", "deposit", "currency", "CHF"),
		metrictest.Series("kassa_billing_movements_total", 1, "kind", "withdrawal", "currency", "CHF"),
		metrictest.Series("kassa_billing_movement_amount_minor_units_total", 60, "kind", "withdrawal", "currency", "CHF"),
		metrictest.Series("kassa_billing_movements_refused_total", 1, "kind", "withdrawal", "reason", "INSUFFICIENT_FUNDS"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 1, "kind", "deposit", "outcome", "applied"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 1, "kind", "withdrawal", "outcome", "applied"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 2, "kind", "withdrawal", "outcome", "refused"),
	})
}
