package grpcserver_test

import (
	"context"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	notificationv1 "github.com/kassa-dev/kassa/gen/kassa/notification/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/internal/fakepeers"
	"github.com/kassa-dev/kassa/services/order/peers"
	"github.com/kassa-dev/kassa/services/order/postgres"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
)

// Each order is counted once, when its final status is recorded: by status,
// with its price; billing's refusals by reason; a retry as a replay; an
// order the repair loop finishes as a repair (and then as settled).
func TestMetrics_CountOrdersByFinalStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := app.NewMetrics(reg, "USD")
	iss := authtest.NewIssuer(t)
	e := &env{
		iss: iss, v: iss.Verifier(t),
		db: pgtest.NewDB(t, postgres.Migrations), users: fakepeers.NewUsers(),
		billing: fakepeers.NewBilling(), letters: fakepeers.NewNotifier(),
	}
	peerConn := e.servePeers(t)
	svc, err := app.New(postgres.New(e.db),
		peers.NewUsers(userv1.NewUserServiceClient(peerConn)),
		peers.NewPayments(billingv1.NewBillingServiceClient(peerConn)).WithMetrics(metrics),
		peers.NewLetters(notificationv1.NewNotificationServiceClient(peerConn)),
		app.Config{DefaultCurrency: "USD", Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	e.serve(t, svc)
	e.svc = svc

	buyer := e.buyer(t, 1000)
	e.mustCreate(t, buyer, 700, "paid")
	e.mustCreate(t, buyer, 700, "paid") // retry: same order, not counted again
	e.mustCreate(t, buyer, 500, "rejected")
	closed := e.buyer(t, 1000)
	e.billing.Close(closed)
	e.mustCreate(t, closed, 100, "closed")
	// Billing down: the order stays pending until the repair pass pays it.
	e.billing.SetDown(true)
	if _, err := e.create(t, buyer, 50, "later"); err == nil {
		t.Fatal("CreateOrder with billing down succeeded")
	}
	e.billing.SetDown(false)
	if rep, err := svc.Repair(context.Background()); err != nil || rep.Finished != 1 {
		t.Fatalf("Repair = %+v, %v", rep, err)
	}

	m := metrictest.Gather(t, reg)
	m.Expect(t, []metrictest.Want{
		metrictest.Series("kassa_order_orders_total", 2, "status", "paid"),
		metrictest.Series("kassa_order_orders_total", 2, "status", "rejected"),
		metrictest.Series("kassa_order_amount_minor_units_total", 750, "status", "paid", "currency", "USD"),
		metrictest.Series("kassa_order_amount_minor_units_total", 600, "status", "rejected", "currency", "USD"),
		metrictest.Series("kassa_order_payment_declines_total", 1, "reason", "INSUFFICIENT_FUNDS"),
		metrictest.Series("kassa_order_payment_declines_total", 1, "reason", "ACCOUNT_CLOSED"),
		metrictest.Series("kassa_order_idempotent_replays_total", 1),
		metrictest.Series("kassa_order_repairs_total", 1, "result", "finished"),
		metrictest.Series("kassa_order_repairs_total", 0, "result", "failed"),
	})
}
