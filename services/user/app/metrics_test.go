package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"github.com/kassa-dev/kassa/services/platform/retry"
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
	svc, err := app.New(store, acc, app.Config{Currency: "EUR", Metrics: app.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	for range 3 {
		if _, err := svc.Create(ctx, ada(), testPassword, "key-1"); err != nil {
			t.Fatal(err)
		}
	}
	acc.failOpen = 1
	if _, err := svc.Create(ctx, user.User{Username: "bob", Email: "bob@example.com"}, testPassword, ""); err == nil {
		t.Fatal("Create with billing down succeeded")
	}
	if rep, err := svc.Repair(ctx); err != nil || rep.Finished != 1 {
		t.Fatalf("Repair = %+v, %v", rep, err)
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

// The parked-items gauge is a count in the database, so a replica that
// parked nobody still reports users another replica parked, while the
// parked counter counts only what this process did.
func TestMetrics_ParkedGaugeCountsOtherReplicasParkedCounterOwn(t *testing.T) {
	store := postgres.New(pgtest.NewDB(t, postgres.Migrations))
	acc := &fakeAccounts{open: make(map[string]string)}
	once := retry.Policy{Base: time.Hour, Max: time.Hour, MaxAttempts: 1}
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	a, err := app.New(store, acc, app.Config{Retry: once, Metrics: app.NewMetrics(regA)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := app.New(store, acc, app.Config{Retry: once, Metrics: app.NewMetrics(regB)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	acc.failOpen = 2 // CreateUser's own call and b's repair attempt
	if _, err := a.Create(ctx, ada(), testPassword, ""); err == nil {
		t.Fatal("Create with billing down succeeded")
	}
	if _, err := b.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Repair(ctx); err != nil {
		t.Fatal(err)
	}
	ma, mb := metrictest.Gather(t, regA), metrictest.Gather(t, regB)
	for _, c := range []struct {
		name string
		m    metrictest.Families
		want float64
	}{
		{"kassa_user_parked_items", ma, 1},
		{"kassa_user_parked_total", ma, 0},
		{"kassa_user_parked_items", mb, 1},
		{"kassa_user_parked_total", mb, 1},
	} {
		if got := c.m.Value(t, c.name); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if acc.opens != 2 {
		t.Errorf("billing Open calls = %d, want 2 (a's pass must not retry the parked user)", acc.opens)
	}
}
