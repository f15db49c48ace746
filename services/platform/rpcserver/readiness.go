package rpcserver

import (
	"context"
	"time"

	"github.com/kassa-dev/kassa/services/platform/retry"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// LivenessService is the health service name that reports only that the
// process serves: SERVING from Serve until shutdown, whatever the database
// or peers do. Liveness probes ask for it (a restart cures none of those
// outages); readiness probes ask for "" or a service's own name, which
// follow the readiness check.
const LivenessService = "liveness"

// Readiness is what decides whether the server should get traffic: nil
// when it can serve (its database answers, say). It runs every Interval
// with a context of Timeout.
type Readiness struct {
	Check    func(ctx context.Context) error
	Interval time.Duration
	Timeout  time.Duration
}

// SetReadiness makes "" and every registered service's name follow r
// (call before Serve). Without it they are SERVING from Serve until
// shutdown.
func (s *Server) SetReadiness(r Readiness) { s.ready = r }

// readinessNames are the health names readiness sets: the overall status
// and each service registered on the server (the health and reflection
// services have no readiness of their own).
func (s *Server) readinessNames() []string {
	names := []string{""}
	for name := range s.GRPC.GetServiceInfo() {
		switch name {
		case healthpb.Health_ServiceDesc.ServiceName, "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection":
			continue
		}
		names = append(names, name)
	}
	return names
}

// watchReadiness sets the readiness names from the check now and then
// every interval until ctx ends, logging each change. Shutdown sets them
// NOT_SERVING for good (health.Server ignores later updates), so the loop
// needs no coordination with it.
func (s *Server) watchReadiness(ctx context.Context) {
	names := s.readinessNames()
	set := func(st healthpb.HealthCheckResponse_ServingStatus) {
		for _, n := range names {
			s.Health.SetServingStatus(n, st)
		}
	}
	if s.ready.Check == nil {
		set(healthpb.HealthCheckResponse_SERVING)
		return
	}
	ready := true
	check := func() {
		cctx, cancel := context.WithTimeout(ctx, s.ready.Timeout)
		err := s.ready.Check(cctx)
		cancel()
		if ctx.Err() != nil {
			return // shutting down: the check's failure says nothing
		}
		switch {
		case err != nil && ready:
			s.log.Warn("not ready: readiness check failed", "error", err)
		case err == nil && !ready:
			s.log.Info("ready again")
		}
		ready = err == nil
		if ready {
			set(healthpb.HealthCheckResponse_SERVING)
		} else {
			set(healthpb.HealthCheckResponse_NOT_SERVING)
		}
	}
	check()
	go retry.Every(ctx, s.ready.Interval, func(context.Context) { check() })
}
