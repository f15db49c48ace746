// Package grpctest serves gRPC services on a real loopback port for tests,
// through the same server (interceptors, error mapping, health) production
// uses.
package grpctest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/rpcclient"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"google.golang.org/grpc"
)

// Serve starts a server on 127.0.0.1:0 with the services register adds and
// returns a client connection to it. Both are closed when the test ends.
func Serve(t testing.TB, register func(s *grpc.Server)) *grpc.ClientConn {
	t.Helper()
	srv := rpcserver.New(Log())
	register(srv.GRPC)
	return Dial(t, srv)
}

// Dial starts srv (its services registered) as Start does and returns a
// client connection to it, with opts; the connection is closed, then the
// server stopped, when the test ends.
func Dial(t testing.TB, srv *rpcserver.Server, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	addr, _, _ := Start(t, srv)
	conn, err := rpcclient.Dial(addr, 10*time.Second, opts...)
	if err != nil {
		t.Fatal(err)
	}
	// Registered after Start's, so it runs first: the connection goes
	// before the server stops.
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Start serves srv on a loopback port until stop. wait returns what Serve
// returned once the server has stopped gracefully (in-flight calls, and
// their spans, have ended). Both also run when the test ends, and a
// failed Serve fails the test.
func Start(t testing.TB, srv *rpcserver.Server) (addr string, stop func(), wait func() error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis, 5*time.Second) }()
	wait = sync.OnceValue(func() error { return <-served })
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return lis.Addr().String(), cancel, wait
}

// Log is the test servers' logger: silent, or warnings and errors on
// stderr with -v.
func Log() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
