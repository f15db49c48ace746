package rpcserver_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// A call on an in-process channel meets what a call over the network
// meets: the access guard, error mapping, the server's metrics, and a
// server span continuing the caller's client span; the caller's token goes
// with rpcclient.Credentials. Once the server drains, the channel refuses
// new calls as UNAVAILABLE.
func TestChannel_RunsTheServersInterceptorsAndTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	newTel := func(name string) *telemetry.Telemetry {
		tel, err := telemetry.New(context.Background(), telemetry.Options{Service: name, Getenv: func(string) string { return "" },
			SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(exp)}})
		if err != nil {
			t.Fatal(err)
		}
		return tel
	}
	serverTel, callerTel := newTel("probe"), newTel("caller")
	iss := authtest.NewIssuer(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rules := map[string]auth.Rule{
		probeMethod:                          auth.Services("caller"),
		healthpb.Health_Check_FullMethodName: auth.Public, healthpb.Health_Watch_FullMethodName: auth.Public,
		healthpb.Health_List_FullMethodName: auth.Public,
	}
	srv := rpcserver.NewWithAuth(log, serverTel, &auth.Guard{Verifier: iss.Verifier(t), Rules: rules})
	// A channel made before the service is registered serves it too.
	early := srv.Channel(callerTel)
	srv.RegisterService(probeDesc(log), struct{}{})

	token := iss.Service(t, "caller")
	credsUnary, _ := rpcclient.Credentials(auth.PerRPCCredentials(auth.TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		return token, time.Now().Add(time.Hour), nil
	})))
	metrics, _ := callerTel.ClientInterceptors()
	withToken := rpcclient.Channel(early, 5*time.Second, []grpc.UnaryClientInterceptor{metrics, credsUnary}, nil)
	without := rpcclient.Channel(srv.Channel(callerTel), 5*time.Second, nil, nil)
	call := func(ctx context.Context, conn grpc.ClientConnInterface, fail bool) error {
		return conn.Invoke(ctx, probeMethod, wrapperspb.Bool(fail), new(wrapperspb.BoolValue))
	}

	_, stop, wait := grpctest.Start(t, srv)

	callerCtx, caller := callerTel.TracerProvider.Tracer("test").Start(context.Background(), "caller")
	if err := call(callerCtx, withToken, false); err != nil {
		t.Fatalf("call with the service token: %v", err)
	}
	caller.End()
	if err := call(context.Background(), withToken, true); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("failing call = %v, want FailedPrecondition (the error interceptor's mapping)", err)
	}
	if err := call(context.Background(), without, false); status.Code(err) != codes.Unauthenticated {
		t.Errorf("call without a token = %v, want Unauthenticated (the guard)", err)
	}
	customerToken := iss.Customer(t, authtest.NewUserID())
	customerCreds, _ := rpcclient.Credentials(auth.PerRPCCredentials(auth.TokenSourceFunc(func(context.Context) (string, time.Time, error) {
		return customerToken, time.Now().Add(time.Hour), nil
	})))
	customer := rpcclient.Channel(srv.Channel(nil), 5*time.Second, []grpc.UnaryClientInterceptor{customerCreds}, nil)
	if err := call(context.Background(), customer, false); status.Code(err) != codes.PermissionDenied {
		t.Errorf("call with a customer's token = %v, want PermissionDenied", err)
	}
	for _, c := range []struct {
		tel    *telemetry.Telemetry
		metric string
		labels []string
		want   float64
	}{
		{serverTel, "grpc_server_handled_total", []string{"unary", "kassa.test.Probe", "Call", "OK"}, 1},
		{serverTel, "grpc_server_handled_total", []string{"unary", "kassa.test.Probe", "Call", "FailedPrecondition"}, 1},
		{serverTel, "grpc_server_handled_total", []string{"unary", "kassa.test.Probe", "Call", "Unauthenticated"}, 1},
		{serverTel, "grpc_server_handled_total", []string{"unary", "kassa.test.Probe", "Call", "PermissionDenied"}, 1},
		{callerTel, "grpc_client_handled_total", []string{"unary", "kassa.test.Probe", "Call", "OK"}, 1},
	} {
		if got := counterValue(t, c.tel, c.metric, c.labels); got != c.want {
			t.Errorf("%s %s%v = %v, want %v", c.tel.Service, c.metric, c.labels, got, c.want)
		}
	}

	client, server := callSpans(exp, caller.SpanContext().TraceID())
	if client.Name != "kassa.test.Probe/Call" || client.Parent.SpanID() != caller.SpanContext().SpanID() || client.Resource.String() == server.Resource.String() {
		t.Errorf("client span %q (resource %s) has parent %s, want kassa.test.Probe/Call of the caller under %s", client.Name, client.Resource, client.Parent.SpanID(), caller.SpanContext().SpanID())
	}
	if server.Name != "kassa.test.Probe/Call" || server.Parent.SpanID() != client.SpanContext.SpanID() {
		t.Errorf("server span %q has parent %s, want the client span %s", server.Name, server.Parent.SpanID(), client.SpanContext.SpanID())
	}

	stop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := call(context.Background(), withToken, false); status.Code(err) != codes.Unavailable {
		t.Errorf("call after the server drained = %v, want Unavailable", err)
	}
}

// rpcclient.Retries makes a call again while the peer answers
// UNAVAILABLE, up to four attempts, and not after another code.
func TestChannel_RetriesUnavailable(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := rpcserver.New(log)
	attempts := 0
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "kassa.test.Flaky", HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.Int32Value)
			if err := dec(in); err != nil {
				return nil, err
			}
			attempts++
			if attempts <= int(in.GetValue()) {
				return nil, status.Error(codes.Unavailable, "not yet")
			}
			return &wrapperspb.Int32Value{}, nil
		}}},
	}, struct{}{})
	conn := rpcclient.Channel(srv.Channel(nil), 5*time.Second, []grpc.UnaryClientInterceptor{rpcclient.Retries()}, nil)
	for _, c := range []struct {
		failures, wantAttempts int
		want                   codes.Code
	}{{0, 1, codes.OK}, {2, 3, codes.OK}, {3, 4, codes.OK}, {4, 4, codes.Unavailable}} {
		attempts = 0
		err := conn.Invoke(context.Background(), "/kassa.test.Flaky/Call", wrapperspb.Int32(int32(c.failures)), new(wrapperspb.Int32Value))
		if status.Code(err) != c.want || attempts != c.wantAttempts {
			t.Errorf("%d failures: %v after %d attempts, want %v after %d", c.failures, err, attempts, c.want, c.wantAttempts)
		}
	}
}
