package rpcserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"github.com/kassa-dev/kassa/services/platform/telemetry"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const probeMethod = "/kassa.test.Probe/Call"

// probeDesc is a one-method service whose Call fails with a domain error
// when asked to (BoolValue true) and logs with the request's context.
func probeDesc(log *slog.Logger) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "kassa.test.Probe",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Call",
			Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
				in := new(wrapperspb.BoolValue)
				if err := dec(in); err != nil {
					return nil, err
				}
				h := func(ctx context.Context, req any) (any, error) {
					log.InfoContext(ctx, "probe handler")
					if req.(*wrapperspb.BoolValue).GetValue() {
						return nil, apperr.FailedPrecondition("not now")
					}
					return &wrapperspb.BoolValue{}, nil
				}
				return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: probeMethod}, h)
			},
		}},
	}
}

// syncBuffer is a log sink the server goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// An instrumented server and client count calls by their final code (the
// domain error as FAILED_PRECONDITION: the metrics interceptor runs outside
// the error mapping), and a call is one trace: the caller's span, the
// client span and the server span in that order, with the handler's log
// line carrying the trace id.
func TestNewWith_MeasuresAndTracesCalls(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tel, err := telemetry.New(context.Background(), telemetry.Options{
		Service: "probe", Getenv: func(string) string { return "" },
		SpanProcessors: []sdktrace.SpanProcessor{sdktrace.NewSimpleSpanProcessor(exp)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(telemetry.LogHandler(slog.NewTextHandler(&logs, nil)))
	srv := rpcserver.NewWith(log, tel)
	srv.GRPC.RegisterService(probeDesc(log), struct{}{})
	addr, stop, wait := grpctest.Start(t, srv)
	conn, err := rpcclient.Dial(addr, 5*time.Second, tel.DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	call := func(ctx context.Context, fail bool) error {
		return conn.Invoke(ctx, probeMethod, wrapperspb.Bool(fail), new(wrapperspb.BoolValue))
	}

	callerCtx, caller := tel.TracerProvider.Tracer("test").Start(context.Background(), "caller")
	if err := call(callerCtx, false); err != nil {
		t.Fatalf("call: %v", err)
	}
	caller.End()
	for range 2 {
		if err := call(context.Background(), true); status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("failing call = %v, want FailedPrecondition", err)
		}
	}
	conn.Close()
	stop()
	if err := wait(); err != nil { // GracefulStop: the server's spans have ended
		t.Fatal(err)
	}

	for _, c := range []struct {
		metric string
		labels []string
		want   float64
	}{
		{"grpc_server_handled_total", []string{"unary", "kassa.test.Probe", "Call", "OK"}, 1},
		{"grpc_server_handled_total", []string{"unary", "kassa.test.Probe", "Call", "FailedPrecondition"}, 2},
		{"grpc_server_handled_total", []string{"unary", "kassa.test.Probe", "Call", "Unknown"}, 0},
		{"grpc_client_handled_total", []string{"unary", "kassa.test.Probe", "Call", "FailedPrecondition"}, 2},
	} {
		if got := counterValue(t, tel, c.metric, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.metric, c.labels, got, c.want)
		}
	}
	// The histogram has one observation per call.
	if n := histogramCount(t, tel, "grpc_server_handling_seconds", "Call"); n != 3 {
		t.Errorf("grpc_server_handling_seconds count = %d, want 3", n)
	}

	traceID := caller.SpanContext().TraceID()
	client, srvSpan := callSpans(exp, traceID)
	if client.Name != "kassa.test.Probe/Call" || client.Parent.SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("client span %q has parent %s, want kassa.test.Probe/Call under the caller %s", client.Name, client.Parent.SpanID(), caller.SpanContext().SpanID())
	}
	if srvSpan.Name != "kassa.test.Probe/Call" || srvSpan.Parent.SpanID() != client.SpanContext.SpanID() || !srvSpan.Parent.IsRemote() {
		t.Errorf("server span %q has parent %s (remote %v), want the client span %s", srvSpan.Name, srvSpan.Parent.SpanID(), srvSpan.Parent.IsRemote(), client.SpanContext.SpanID())
	}
	var handlerLine string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "probe handler") && strings.Contains(l, "trace_id="+traceID.String()) {
			handlerLine = l
		}
	}
	if handlerLine == "" || !strings.Contains(handlerLine, "span_id="+srvSpan.SpanContext.SpanID().String()) {
		t.Errorf("no handler log line with trace_id=%s and the server span's span_id:\n%s", traceID, logs.String())
	}
}

func counterValue(t *testing.T, tel *telemetry.Telemetry, name string, labels []string) float64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m.GetLabel(), labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// labelsMatch compares the values of the labels grpc_type, grpc_service,
// grpc_method and grpc_code with want, in that order.
func labelsMatch(got []*dto.LabelPair, want []string) bool {
	values := map[string]string{}
	for _, l := range got {
		values[l.GetName()] = l.GetValue()
	}
	for i, name := range []string{"grpc_type", "grpc_service", "grpc_method", "grpc_code"} {
		if i < len(want) && values[name] != want[i] {
			return false
		}
	}
	return true
}

func histogramCount(t *testing.T, tel *telemetry.Telemetry, name, method string) uint64 {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "grpc_method" && l.GetValue() == method {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// callSpans are the client and the server span of the trace traceID.
func callSpans(exp *tracetest.InMemoryExporter, traceID trace.TraceID) (client, server tracetest.SpanStub) {
	for _, s := range exp.GetSpans() {
		if s.SpanContext.TraceID() != traceID {
			continue
		}
		switch s.SpanKind {
		case trace.SpanKindClient:
			client = s
		case trace.SpanKindServer:
			server = s
		}
	}
	return client, server
}

// A call's duration is logged as a number of milliseconds, which a log
// pipeline can sum and compare, not as text.
func TestFinishedCallLines_DurationInMilliseconds(t *testing.T) {
	logs := probeLogs(t, func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }, true)
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, `"msg":"finished call"`) {
			continue
		}
		var line struct {
			Millis *float64 `json:"grpc.time_ms"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil || line.Millis == nil || *line.Millis < 0 {
			t.Errorf("finished call line %s: grpc.time_ms is not a number of milliseconds (%v)", l, err)
		}
		return
	}
	t.Fatalf("no finished call line in %q", logs)
}

// probeLogs is what a probe server logs through the handler it makes
// while it answers one call per element of fails (true: the call fails
// with FAILED_PRECONDITION) and stops.
func probeLogs(t *testing.T, handler func(io.Writer) slog.Handler, fails ...bool) string {
	t.Helper()
	var logs syncBuffer
	log := slog.New(handler(&logs))
	srv := rpcserver.NewWith(log, nil)
	srv.GRPC.RegisterService(probeDesc(log), struct{}{})
	addr, stop, wait := grpctest.Start(t, srv)
	conn, err := rpcclient.Dial(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, fail := range fails {
		_ = conn.Invoke(context.Background(), probeMethod, wrapperspb.Bool(fail), new(wrapperspb.BoolValue))
	}
	conn.Close()
	stop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	return logs.String()
}

// A successful call's "finished call" line is DEBUG, a failed call's keeps
// the level of its code (FAILED_PRECONDITION: WARN), so at the default
// INFO only the failures are written.
func TestFinishedCallLines_SuccessAtDebugFailuresAtTheirLevel(t *testing.T) {
	for _, tt := range []struct {
		level     slog.Level
		wantOK    bool // the successful call's line is written
		wantLevel string
	}{
		{slog.LevelInfo, false, "level=WARN"},
		{slog.LevelDebug, true, "level=WARN"},
	} {
		t.Run(tt.level.String(), func(t *testing.T) {
			logs := probeLogs(t, func(w io.Writer) slog.Handler {
				return slog.NewTextHandler(w, &slog.HandlerOptions{Level: tt.level})
			}, false, true)
			var ok, failed []string
			for _, l := range strings.Split(logs, "\n") {
				switch {
				case strings.Contains(l, `msg="finished call"`) && strings.Contains(l, "grpc.code=OK"):
					ok = append(ok, l)
				case strings.Contains(l, `msg="finished call"`) && strings.Contains(l, "grpc.code=FailedPrecondition"):
					failed = append(failed, l)
				}
			}
			if len(failed) != 1 || !strings.Contains(failed[0], tt.wantLevel) {
				t.Errorf("failed call's lines %q, want one at %s", failed, tt.wantLevel)
			}
			if got := len(ok) == 1 && strings.Contains(ok[0], "level=DEBUG"); got != tt.wantOK {
				t.Errorf("successful call's lines %q at log level %v, want written at DEBUG: %v", ok, tt.level, tt.wantOK)
			}
		})
	}
}
