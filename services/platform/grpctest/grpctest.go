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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv := rpcserver.New(log)
	register(srv.GRPC)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, 5*time.Second) }()
	conn, err := rpcclient.Dial(lis.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return conn
}
