package wire_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/kassa-dev/kassa/services/billing/wire"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// New registers the billing API with its metrics in the given registry,
// and registers nothing for a default currency billing could not open
// accounts in. The database is not touched before the first call, so none
// is needed here.
func TestNew(t *testing.T) {
	for currency, ok := range map[string]bool{"USD": true, "CHF": true, "": false, "usd": false, "EURO": false} {
		srv, reg := grpc.NewServer(), prometheus.NewRegistry()
		_, err := wire.New(srv, nil, wire.Config{DefaultCurrency: currency, Metrics: reg})
		got := slices.Sorted(maps.Keys(srv.GetServiceInfo()))
		switch {
		case !ok && (err == nil || len(got) != 0):
			t.Errorf("New(%q) = %v, services %v; want an error and none", currency, err, got)
		case ok && (err != nil || !slices.Equal(got, []string{"kassa.billing.v1.BillingService"})):
			t.Errorf("New(%q) = %v, services %v; want BillingService", currency, err, got)
		case ok && metrictest.Gather(t, reg)["kassa_billing_accounts_opened_total"] == nil:
			t.Errorf("New(%q): the billing metrics are not in the registry", currency)
		}
	}
}
