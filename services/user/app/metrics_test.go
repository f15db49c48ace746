package app_test

import (
	"context"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/kassa-dev/kassa/services/user"
	"github.com/kassa-dev/kassa/services/user/app"
	"github.com/kassa-dev/kassa/services/user/postgres"
	"github.com/prometheus/client_golang/prometheus"
)

// A user is counted once however often CreateUser is retried; a user
// whose account the repair loop opens is counted as repaired.
func TestMetrics_CountRegistrationsReplaysAndRepairs(t *testing.T) {
	reg := prometheus.NewRegistry()
	store := postgres.New(pgtest.NewDB(t, postgres.Migrations))
	acc := &fakeAccounts{open: make(map[string]string)}
	svc := app.New(store, acc, app.Options{Currency: "EUR", Metrics: app.NewMetrics(reg)})
	ctx := context.Background()

	for range 3 {
		if _, err := svc.Create(ctx, ada(), "key-1"); err != nil {
			t.Fatal(err)
		}
	}
	acc.failOpen = 1
	if _, err := svc.Create(ctx, user.User{Username: "bob", Email: "bob@example.com"}, ""); err == nil {
		t.Fatal("Create with billing down succeeded")
	}
	if n, err := svc.RepairPending(ctx, 10); err != nil || n != 1 {
		t.Fatalf("RepairPending = %d, %v", n, err)
	}

	m := metrictest.Gather(t, reg)
	for name, want := range map[string]float64{
		"kassa_user_users_created_total":          2,
		"kassa_user_idempotent_replays_total":     2,
		"kassa_user_pending_users_repaired_total": 1,
	} {
		if got := m.Value(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
