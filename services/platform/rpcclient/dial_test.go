package rpcclient_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/grpctest"
	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// serveFlaky serves f on a loopback port and returns its address.
func serveFlaky(t *testing.T, f *grpctest.Flaky) string {
	t.Helper()
	srv := rpcserver.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Register(srv.GRPC)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

// With WithRetries, gRPC retries a call the peer answered UNAVAILABLE, up
// to four attempts, and nothing else; without it (the gateway's dial)
// the first answer is final.
func TestDial_WithRetries_RetriesUnavailableOnly(t *testing.T) {
	tests := []struct {
		name     string
		retries  bool
		failures int32
		code     codes.Code
		want     codes.Code
		attempts int
	}{
		{"unavailable twice, then served", true, 2, codes.Unavailable, codes.OK, 3},
		{"unavailable throughout: four attempts", true, 10, codes.Unavailable, codes.Unavailable, 4},
		{"a refusal is not retried", true, 2, codes.FailedPrecondition, codes.FailedPrecondition, 1},
		{"an internal error is not retried", true, 2, codes.Internal, codes.Internal, 1},
		{"without the option, no retry", false, 2, codes.Unavailable, codes.Unavailable, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &grpctest.Flaky{Failures: tt.failures, Code: tt.code}
			var opts []grpc.DialOption
			if tt.retries {
				opts = append(opts, rpcclient.WithRetries())
			}
			conn, err := rpcclient.Dial(serveFlaky(t, f), 10*time.Second, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var out wrapperspb.StringValue
			err = conn.Invoke(context.Background(), grpctest.FlakyMethod, wrapperspb.String("k1"), &out, grpc.WaitForReady(true))
			if status.Code(err) != tt.want || f.Attempts() != tt.attempts {
				t.Fatalf("call = %v after %d attempts, want %v after %d", err, f.Attempts(), tt.want, tt.attempts)
			}
			if tt.want == codes.OK && out.GetValue() != "k1" {
				t.Fatalf("reply = %q, want the request echoed", out.GetValue())
			}
		})
	}
}
