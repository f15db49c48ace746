package wire_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/kassa-dev/kassa/services/user/wire"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// New registers the user, user admin and auth APIs, with the metrics in
// the given registry, and registers nothing for a currency billing could
// not open accounts in ("" lets billing choose). Neither the database nor
// billing is called before the first request, so none is needed here.
func TestNew(t *testing.T) {
	want := []string{"kassa.user.v1.AuthService", "kassa.user.v1.UserAdminService", "kassa.user.v1.UserService"}
	for currency, ok := range map[string]bool{"": true, "EUR": true, "eur": false, "EURO": false} {
		srv, reg := grpc.NewServer(), prometheus.NewRegistry()
		_, err := wire.New(srv, nil, wire.Peers{}, wire.Config{Currency: currency, Metrics: reg})
		got := slices.Sorted(maps.Keys(srv.GetServiceInfo()))
		switch {
		case !ok && (err == nil || len(got) != 0):
			t.Errorf("New(%q) = %v, services %v; want an error and none", currency, err, got)
		case ok && (err != nil || !slices.Equal(got, want)):
			t.Errorf("New(%q) = %v, services %v; want %v", currency, err, got, want)
		case ok && metrictest.Gather(t, reg)["kassa_user_users_created_total"] == nil:
			t.Errorf("New(%q): the user metrics are not in the registry", currency)
		}
	}
}
