package grpcserver_test

import (
	"context"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/billing/app"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// The business counters follow the money: applied movements and their
// amounts by kind, refusals by reason, retries as replays by outcome (not
// as a second movement or refusal), opened accounts.
func TestMetrics_CountMovementsRefusalsAndReplays(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := serveWith(t, app.Config{DefaultCurrency: "USD", Metrics: app.NewMetrics(reg, "USD")}).asCallers(t)
	ctx := context.Background()

	user := newAccount(t, c, 1000) // one deposit of 1000
	newAccount(t, c, 0)
	if _, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 1000, RequestId: "initial"}); err != nil {
		t.Fatal(err) // a retry of newAccount's deposit
	}
	for _, w := range []struct {
		amount int64
		key    string
		code   codes.Code
	}{
		{300, "w1", codes.OK},
		{300, "w1", codes.OK}, // retry
		{200, "w2", codes.OK},
		{5000, "w3", codes.FailedPrecondition},
		{5000, "w3", codes.FailedPrecondition}, // retry: the first refusal, replayed
	} {
		_, err := c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: w.amount, RequestId: w.key})
		wantCode(t, err, w.code)
	}
	_, err := c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 0, RequestId: "bad"})
	wantCode(t, err, codes.InvalidArgument) // not a refusal: a bad request

	m := metrictest.Gather(t, reg)
	m.Expect(t, []metrictest.Want{
		metrictest.Series("kassa_billing_movements_total", 1, "kind", "deposit", "currency", "USD"),
		metrictest.Series("kassa_billing_movement_amount_minor_units_total", 1000, "kind", "deposit", "currency", "USD"),
		metrictest.Series("kassa_billing_movements_total", 2, "kind", "withdrawal", "currency", "USD"),
		metrictest.Series("kassa_billing_movement_amount_minor_units_total", 500, "kind", "withdrawal", "currency", "USD"),
		metrictest.Series("kassa_billing_movements_refused_total", 1, "kind", "withdrawal", "reason", "INSUFFICIENT_FUNDS"),
		metrictest.Series("kassa_billing_movements_refused_total", 0, "kind", "withdrawal", "reason", "ACCOUNT_CLOSED"),
		metrictest.Series("kassa_billing_movements_refused_total", 0, "kind", "withdrawal", "reason", "OTHER"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 1, "kind", "deposit", "outcome", "applied"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 1, "kind", "withdrawal", "outcome", "applied"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 1, "kind", "withdrawal", "outcome", "refused"),
		metrictest.Series("kassa_billing_idempotent_replays_total", 0, "kind", "deposit", "outcome", "refused"),
		metrictest.Series("kassa_billing_accounts_opened_total", 2),
	})
	// Refusal and replay series exist before the first one, so alerts see
	// it as an increase.
	for _, name := range []string{"kassa_billing_movements_refused_total", "kassa_billing_idempotent_replays_total"} {
		if len(m[name].GetMetric()) < 4 {
			t.Errorf("%s: %d series, want every kind and label value from the start", name, len(m[name].GetMetric()))
		}
	}
}
