package wire_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/order/wire"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// New registers the order API and its internal admin API, with the
// metrics in the given registry, and registers nothing for a configuration
// the use cases cannot run with. Neither the database nor a peer is called
// before the first request, so none is needed here.
func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  wire.Config
		ok   bool
	}{
		{"zero value", wire.Config{}, true},
		{"as cmd/order", wire.Config{DefaultCurrency: "EUR", CallTimeout: 5 * time.Second, Retry: retry.Default}, true},
		{"bad currency", wire.Config{DefaultCurrency: "dollars"}, false},
		{"max below base", wire.Config{Retry: retry.Policy{Base: time.Minute, Max: time.Second, MaxAttempts: 3}}, false},
	}
	want := []string{"kassa.order.v1.OrderAdminService", "kassa.order.v1.OrderService"}
	for _, tt := range tests {
		srv, reg := grpc.NewServer(), prometheus.NewRegistry()
		tt.cfg.Metrics = reg
		_, err := wire.New(srv, nil, wire.Peers{}, tt.cfg)
		got := slices.Sorted(maps.Keys(srv.GetServiceInfo()))
		switch {
		case !tt.ok && (err == nil || len(got) != 0):
			t.Errorf("%s: New = %v, services %v; want an error and none", tt.name, err, got)
		case tt.ok && (err != nil || !slices.Equal(got, want)):
			t.Errorf("%s: New = %v, services %v; want %v", tt.name, err, got, want)
		case tt.ok && metrictest.Gather(t, reg)["kassa_order_idempotent_replays_total"] == nil:
			t.Errorf("%s: the order metrics are not in the registry", tt.name)
		}
	}
}
