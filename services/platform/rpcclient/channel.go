package rpcclient

import (
	"context"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/fullstorydev/grpchan"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Channel is Dial for a peer reached in process (rpcserver.Server.Channel):
// every call without a deadline of its own gets timeout, then runs the
// client interceptors unary (first outermost), as the dial options of a
// network connection would; nil interceptors are skipped (a nil
// Telemetry's). Dial options themselves do not apply to a
// channel; Credentials and Retries are the interceptors that stand in for
// grpc.WithPerRPCCredentials and WithRetries.
func Channel(ch grpc.ClientConnInterface, timeout time.Duration, unary []grpc.UnaryClientInterceptor, stream []grpc.StreamClientInterceptor) grpc.ClientConnInterface {
	unary = slices.DeleteFunc(append([]grpc.UnaryClientInterceptor{deadlineInterceptor(timeout)}, unary...),
		func(ic grpc.UnaryClientInterceptor) bool { return ic == nil })
	stream = slices.DeleteFunc(slices.Clone(stream), func(ic grpc.StreamClientInterceptor) bool { return ic == nil })
	out := grpchan.InterceptClientConnUnary(ch, unary...)
	if len(stream) > 0 {
		out = grpchan.InterceptClientConnStream(out, stream...)
	}
	return out
}

// Credentials sends creds' metadata with every call, as
// grpc.WithPerRPCCredentials does on a network connection.
func Credentials(creds credentials.PerRPCCredentials) (grpc.UnaryClientInterceptor, grpc.StreamClientInterceptor) {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(ctx, method, req, reply, cc, append(opts[:len(opts):len(opts)], grpc.PerRPCCredentials(creds))...)
		}, func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(ctx, desc, cc, method, append(opts[:len(opts):len(opts)], grpc.PerRPCCredentials(creds))...)
		}
}

// Retries is WithRetries for a channel: a call the peer answered
// UNAVAILABLE is made again, up to four attempts in all, after a random
// wait of up to 100ms, 200ms and then 400ms, within the call's deadline.
// In process no call fails in transport, so what is retried is the
// peer's own UNAVAILABLE (a pool that had no connection free, a
// database that did not answer), as gRPC's policy retries it over the
// network.
func Retries() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		backoff := 100 * time.Millisecond
		for attempt := 1; ; attempt++ {
			err := invoker(ctx, method, req, reply, cc, opts...)
			if status.Code(err) != codes.Unavailable || attempt == maxAttempts {
				return err
			}
			wait := time.NewTimer(rand.N(backoff))
			select {
			case <-ctx.Done():
				wait.Stop()
				return err
			case <-wait.C:
			}
			backoff = min(2*backoff, time.Second)
		}
	}
}

// maxAttempts is peerRetryConfig's.
const maxAttempts = 4
