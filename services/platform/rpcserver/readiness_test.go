package rpcserver_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// pollHealth asks for name's status until it is want or the deadline
// passes.
func pollHealth(t *testing.T, hc healthpb.HealthClient, name string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got healthpb.HealthCheckResponse_ServingStatus
	var err error
	for time.Now().Before(deadline) {
		var resp *healthpb.HealthCheckResponse
		resp, err = hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name}, grpc.WaitForReady(true))
		if got = resp.GetStatus(); err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("health %q = %v, %v; want %v within 10s", name, got, err, want)
}

// Readiness ("" and each registered service) follows the check both ways;
// liveness stays SERVING throughout; on shutdown everything reports
// NOT_SERVING before the server stops.
func TestServe_ReadinessFollowsTheCheck_LivenessDoesNot(t *testing.T) {
	var failing atomic.Bool
	srv := rpcserver.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var handled atomic.Int32
	srv.GRPC.RegisterService(echoDesc(&handled), struct{}{})
	srv.SetReadiness(rpcserver.Readiness{
		Check: func(context.Context) error {
			if failing.Load() {
				return errors.New("database down")
			}
			return nil
		},
		Interval: 20 * time.Millisecond, Timeout: time.Second,
	})
	addr, stop, wait := grpctest.Start(t, srv)
	conn, err := rpcclient.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	const svc = "kassa.test.Echo"
	for _, phase := range []struct {
		failing bool
		want    healthpb.HealthCheckResponse_ServingStatus
	}{
		{false, healthpb.HealthCheckResponse_SERVING},
		{true, healthpb.HealthCheckResponse_NOT_SERVING},
		{false, healthpb.HealthCheckResponse_SERVING},
	} {
		failing.Store(phase.failing)
		pollHealth(t, hc, "", phase.want)
		pollHealth(t, hc, svc, phase.want)
		pollHealth(t, hc, rpcserver.LivenessService, healthpb.HealthCheckResponse_SERVING)
	}

	watchCtx, endWatch := context.WithCancel(context.Background())
	defer endWatch()
	watch, err := hc.Watch(watchCtx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch before shutdown = %v, %v", resp, err)
	}
	stop()
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("first status during shutdown = %v, %v; want NOT_SERVING", resp, err)
	}
	endWatch() // the server drains open streams before it stops
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}
