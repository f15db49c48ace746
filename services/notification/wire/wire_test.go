package wire_test

import (
	"testing"

	"github.com/kassa-dev/kassa/services/notification/wire"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// New registers the notification API with its metrics in the given
// registry. Neither the database nor billing is called before the first
// request, so none is needed here.
func TestNew_RegistersServiceAndMetrics(t *testing.T) {
	srv, reg := grpc.NewServer(), prometheus.NewRegistry()
	wire.New(srv, nil, wire.Peers{}, wire.Config{Metrics: reg})
	if _, ok := srv.GetServiceInfo()["kassa.notification.v1.NotificationService"]; !ok || len(srv.GetServiceInfo()) != 1 {
		t.Fatalf("services = %v, want NotificationService", srv.GetServiceInfo())
	}
	if metrictest.Gather(t, reg)["kassa_notification_idempotent_replays_total"] == nil {
		t.Fatal("the notification metrics are not in the registry")
	}
}
