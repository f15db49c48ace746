package rpcserver_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/admission"
	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	"github.com/kassa-dev/kassa/services/platform/telemetry/metrictest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// gate is a test service: Hold blocks until the test lets it go, Keyed
// answers with a per-key shed of the handler's own, Exempt holds like Hold
// but is on the server's NeverShed list.
type gate struct {
	entered chan struct{}
	release chan struct{}
	calls   chan string
}

func (g *gate) desc() *grpc.ServiceDesc {
	method := func(name string, h func(ctx context.Context) error) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: name, Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/kassa.test.Gate/" + name}, func(ctx context.Context, _ any) (any, error) {
				g.calls <- name
				if err := h(ctx); err != nil {
					return nil, err
				}
				return &emptypb.Empty{}, nil
			})
		}}
	}
	hold := func(ctx context.Context) error {
		g.entered <- struct{}{}
		<-g.release
		return nil
	}
	return &grpc.ServiceDesc{ServiceName: "kassa.test.Gate", HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{
		method("Hold", hold),
		method("Exempt", hold),
		method("Keyed", func(ctx context.Context) error {
			k := admission.NewKeyed(admission.Config{MaxInFlight: 1, What: "calls for one key"})
			rel, err := k.Acquire(ctx, "a")
			if err != nil {
				return err
			}
			defer rel()
			_, err = k.Acquire(ctx, "a")
			return err
		}),
	}}
}

func serveGate(t *testing.T, adm *rpcserver.Admission) (*gate, *grpc.ClientConn, *telemetry.Telemetry) {
	t.Helper()
	tel, err := telemetry.New(context.Background(), telemetry.Options{Service: "gate", Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := rpcserver.NewServer(log, rpcserver.Options{Telemetry: tel, Admission: adm})
	g := &gate{entered: make(chan struct{}, 16), release: make(chan struct{}), calls: make(chan string, 64)}
	srv.GRPC.RegisterService(g.desc(), struct{}{})
	addr, _, _ := grpctest.Start(t, srv)
	// The peers' own connection, retries included: a shed must not be
	// retried by it.
	conn, err := rpcclient.Dial(addr, 5*time.Second, rpcclient.WithRetries())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // before serve's cleanup stops the server
	return g, conn, tel
}

func invoke(ctx context.Context, conn *grpc.ClientConn, method string) error {
	return conn.Invoke(ctx, "/kassa.test.Gate/"+method, &emptypb.Empty{}, new(emptypb.Empty))
}

func TestAdmission_ShedsTheExcessFastWithResourceExhaustedAndRetryInfo(t *testing.T) {
	g, conn, tel := serveGate(t, &rpcserver.Admission{
		Config:    admission.Config{MaxInFlight: 1, RetryAfter: 2 * time.Second},
		NeverShed: []string{"/kassa.test.Gate/Exempt"},
	})
	held := make(chan error, 1)
	go func() { held <- invoke(context.Background(), conn, "Hold") }()
	<-g.entered
	<-g.calls

	start := time.Now()
	err := invoke(context.Background(), conn, "Hold")
	took := time.Since(start)
	if status.Code(err) != codes.ResourceExhausted || grpcstatus.ReasonOf(err) != apperr.ReasonOverloaded {
		t.Fatalf("second call: %v, want RESOURCE_EXHAUSTED OVERLOADED", err)
	}
	if took > 100*time.Millisecond {
		t.Errorf("shed took %v, want well under 100ms", took)
	}
	var delay time.Duration
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if delay != 2*time.Second {
		t.Errorf("RetryInfo = %v, want 2s", delay)
	}
	select {
	case m := <-g.calls:
		t.Fatalf("the shed call reached the handler %q", m)
	default:
	}

	// Health and the exempt method are admitted while the slot is taken.
	hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(hctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check while full: %v", err)
	}
	exempt := make(chan error, 1)
	go func() { exempt <- invoke(context.Background(), conn, "Exempt") }()
	<-g.entered

	fams := metrictest.Gather(t, tel.Registry)
	if got := fams.Value(t, "kassa_admission_shed_total", "grpc_method", "Hold", "limit", "service", "cause", "queue_full"); got != 1 {
		t.Errorf("shed_total{Hold,queue_full} = %v, want 1 (the retry policy must not resend a shed call)", got)
	}
	if got := fams.Value(t, "kassa_admission_in_flight"); got != 1 {
		t.Errorf("in_flight = %v, want 1 (the exempt call takes no slot)", got)
	}
	if got := fams.Value(t, "kassa_admission_shed_total", "grpc_method", "Exempt"); got != 0 {
		t.Errorf("the exempt method has shed series: %v", got)
	}
	close(g.release)
	if err := <-held; err != nil {
		t.Errorf("the admitted call: %v", err)
	}
	if err := <-exempt; err != nil {
		t.Errorf("the exempt call: %v", err)
	}
}

func TestAdmission_AdmitsUnderTheLimitAndCountsKeyedSheds(t *testing.T) {
	g, conn, tel := serveGate(t, &rpcserver.Admission{Config: admission.Config{MaxInFlight: 4}})
	close(g.release)
	for range 8 { // sequential: never more than one in flight
		if err := invoke(context.Background(), conn, "Hold"); err != nil {
			t.Fatalf("call under the limit: %v", err)
		}
		<-g.entered
	}
	err := invoke(context.Background(), conn, "Keyed")
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("keyed shed: %v, want RESOURCE_EXHAUSTED", err)
	}
	fams := metrictest.Gather(t, tel.Registry)
	if got := fams.Value(t, "kassa_admission_shed_total", "grpc_method", "Keyed", "limit", "key", "cause", "queue_full"); got != 1 {
		t.Errorf("shed_total{Keyed,key} = %v, want 1", got)
	}
	if got := fams.Sum("kassa_admission_shed_total", "limit", "service"); got != 0 {
		t.Errorf("server sheds under the limit: %v", got)
	}
}

func TestAdmission_DeadlineShorterThanTheWaitIsShedAtOnce(t *testing.T) {
	g, conn, _ := serveGate(t, &rpcserver.Admission{Config: admission.Config{MaxInFlight: 1, MaxQueue: 4, MaxWait: 2 * time.Second}})
	held := make(chan error, 1)
	go func() { held <- invoke(context.Background(), conn, "Hold") }()
	<-g.entered
	// The call may wait up to 2s for the slot, but its own deadline is
	// 150ms: it is refused when that runs out, not left to wait 2s.
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := invoke(ctx, conn, "Hold")
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v, want the call's deadline, not MaxWait", took)
	}
	if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.ResourceExhausted {
		t.Fatalf("err = %v, want DEADLINE_EXCEEDED or RESOURCE_EXHAUSTED", err)
	}
	close(g.release)
	<-held
}

// Several servers in one process (the all-in-one shape) share its
// registry: each has its own gauges, and their sheds are counted together.
func TestAdmission_ServersShareARegistry(t *testing.T) {
	tel, err := telemetry.New(context.Background(), telemetry.Options{Service: "all", Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, name := range []string{"order", "billing"} {
		rpcserver.NewServer(log, rpcserver.Options{Telemetry: tel, Admission: &rpcserver.Admission{Name: name, Config: admission.Config{MaxInFlight: 1}}})
	}
	fams := metrictest.Gather(t, tel.Registry)
	for _, name := range []string{"order", "billing"} {
		if n := len(fams["kassa_admission_in_flight"].GetMetric()); n != 2 {
			t.Fatalf("in_flight series = %d, want one per server", n)
		}
		if got := fams.Value(t, "kassa_admission_in_flight", "server", name); got != 0 {
			t.Errorf("in_flight{server=%s} = %v, want 0", name, got)
		}
	}
}
