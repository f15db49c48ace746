package rpcserver

import (
	"context"

	"google.golang.org/grpc"
)

// handlerStack is a frame that makes room for the stack a unary call's
// goroutine reaches: the server's interceptors, the handler, its calls to
// peers through their client interceptors, and the database driver:
// under 16 KiB in kassa's services, several times the 2 KiB a goroutine
// starts with (or the average stack size the runtime starts it with).
const handlerStack = 12 << 10

// presized is the first interceptor of every unary call, over the network
// and in process: it grows the call's goroutine stack to 16 KiB in one
// step. The gRPC server and the in-process channel both run each call on
// a goroutine of its own, which starts small and would otherwise double
// its stack up to three times a call, each time copying and re-walking
// a deeper stack: 6 % of the all-in-one process's CPU in a profile at its
// REST peak, 3-17 % of each service's in the microservices, 7.7 % in
// BenchmarkCreateOrder (services/allinone) and 2.1 % with this, which
// copies almost nothing since the stack is still shallow here (what is
// left is growth before the interceptors, and this one).
func presized(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	presizeStack(0)
	return handler(ctx, req)
}

// presizeStack's frame must really be handlerStack bytes, hence the array
// read at an index the compiler cannot know.
//
//go:noinline
func presizeStack(i int) byte {
	var frame [handlerStack]byte
	return frame[i]
}
