package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
)

// components are the processes whose /metrics the tests scrape.
var components = []string{"gateway", "user", "billing", "order", "notification"}

// scrapeAll reads the /metrics page of every process.
func scrapeAll(t *testing.T) map[string]metrictest.Families {
	t.Helper()
	out := make(map[string]metrictest.Families, len(components))
	for _, c := range components {
		out[c] = metrictest.Scrape(t, sys.stack.AdminURL(c)+"/metrics")
	}
	return out
}

// moved is one expected change of a series between two scrapes.
type moved struct {
	process string
	metric  string
	labels  []string
	delta   float64
}

func (m moved) String() string { return fmt.Sprintf("%s %s%v", m.process, m.metric, m.labels) }

// One paid and one rejected order through the REST gateway move the order
// counters by status, billing's withdrawal counters and the gRPC server
// counters of every service by exactly what the two orders did, and
// nothing else moves the services' gRPC traffic.
func TestMetrics_PaidAndRejectedOrder_MoveCountersExactly(t *testing.T) {
	const deposit, price = 1000, 600
	user := restFundedUser(t, deposit)
	before := scrapeAll(t)

	if s := restOrder(t, user, price); s != "STATUS_PAID" {
		t.Fatalf("first order is %s, want STATUS_PAID", s)
	}
	if s := restOrder(t, user, price); s != "STATUS_REJECTED" {
		t.Fatalf("second order is %s, want STATUS_REJECTED (balance %d < %d)", s, deposit-price, price)
	}
	// The gateway records a request after writing its answer; wait (with
	// a deadline) until it has, then compare everything exactly.
	gatewayRoute := []string{"method", "POST", "route", "/v1/users/{user_id}/orders", "code", "200"}
	waitFor(t, 10*time.Second, func() bool {
		got := metrictest.Scrape(t, sys.stack.AdminURL("gateway")+"/metrics").Value(t, "kassa_gateway_http_request_duration_seconds", gatewayRoute...)
		return got-before["gateway"].Value(t, "kassa_gateway_http_request_duration_seconds", gatewayRoute...) >= 2
	})
	after := scrapeAll(t)

	const (
		orderSvc = "kassa.order.v1.OrderService"
		userSvc  = "kassa.user.v1.UserService"
		billSvc  = "kassa.billing.v1.BillingService"
		noteSvc  = "kassa.notification.v1.NotificationService"
	)
	call := func(svc, method, code string) []string {
		return []string{"grpc_service", svc, "grpc_method", method, "grpc_code", code}
	}
	for _, want := range []moved{
		// business counters
		{"order", "kassa_order_orders_total", []string{"status", "paid"}, 1},
		{"order", "kassa_order_orders_total", []string{"status", "rejected"}, 1},
		{"order", "kassa_order_amount_minor_units_total", []string{"status", "paid", "currency", "USD"}, price},
		{"order", "kassa_order_amount_minor_units_total", []string{"status", "rejected", "currency", "USD"}, price},
		{"order", "kassa_order_payment_declines_total", []string{"reason", "INSUFFICIENT_FUNDS"}, 1},
		{"order", "kassa_order_idempotent_replays_total", nil, 0},
		{"billing", "kassa_billing_movements_total", []string{"kind", "withdrawal", "currency", "USD"}, 1},
		{"billing", "kassa_billing_movement_amount_minor_units_total", []string{"kind", "withdrawal", "currency", "USD"}, price},
		{"billing", "kassa_billing_movements_refused_total", []string{"kind", "withdrawal", "reason", "INSUFFICIENT_FUNDS"}, 1},
		{"billing", "kassa_billing_movements_total", []string{"kind", "deposit", "currency", "USD"}, 0},
		{"notification", "kassa_notification_letters_stored_total", []string{"kind", "order"}, 2},
		// gRPC servers: each service's part in the two orders
		{"order", "grpc_server_handled_total", call(orderSvc, "CreateOrder", "OK"), 2},
		{"user", "grpc_server_handled_total", call(userSvc, "GetUser", "OK"), 2},
		{"billing", "grpc_server_handled_total", call(billSvc, "Withdraw", "OK"), 1},
		{"billing", "grpc_server_handled_total", call(billSvc, "Withdraw", "FailedPrecondition"), 1},
		{"notification", "grpc_server_handled_total", call(noteSvc, "SendNotification", "OK"), 2},
		{"order", "grpc_server_handling_seconds", []string{"grpc_service", orderSvc, "grpc_method", "CreateOrder"}, 2},
		// gRPC clients: the calls as their callers saw them
		{"gateway", "grpc_client_handled_total", call(orderSvc, "CreateOrder", "OK"), 2},
		{"order", "grpc_client_handled_total", call(userSvc, "GetUser", "OK"), 2},
		{"order", "grpc_client_handled_total", call(billSvc, "Withdraw", "OK"), 1},
		{"order", "grpc_client_handled_total", call(billSvc, "Withdraw", "FailedPrecondition"), 1},
		{"order", "grpc_client_handled_total", call(noteSvc, "SendNotification", "OK"), 2},
		// gateway HTTP
		{"gateway", "kassa_gateway_http_request_duration_seconds", gatewayRoute, 2},
	} {
		got := after[want.process].Value(t, want.metric, want.labels...) - before[want.process].Value(t, want.metric, want.labels...)
		if got != want.delta {
			t.Errorf("%v moved by %v, want %v", want, got, want.delta)
		}
	}
	// Exactly: no other call reached any service's API in the meantime.
	for process, total := range map[string]float64{"order": 2, "user": 2, "billing": 2, "notification": 2} {
		svc := map[string]string{"order": orderSvc, "user": userSvc, "billing": billSvc, "notification": noteSvc}[process]
		got := after[process].Sum("grpc_server_handled_total", "grpc_service", svc) - before[process].Sum("grpc_server_handled_total", "grpc_service", svc)
		if got != total {
			t.Errorf("%s served %v calls of %s in all, want %v", process, got, svc, total)
		}
	}
	// The pools are measured too.
	for _, db := range []string{"user", "billing", "order", "notification"} {
		if got := after[db].Value(t, "go_sql_max_open_connections", "db_name", db); got != 20 {
			t.Errorf("%s: go_sql_max_open_connections = %v, want the default pool size 20", db, got)
		}
	}
}

// waitFor polls cond until it holds or timeout passes (then the test
// fails). It is for state another process updates after answering.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("condition not met within %v", timeout)
		case <-tick.C:
		}
	}
}
