// Package rpcclient connects a kassa process to its gRPC peers: a lazy
// connection with a deadline on every call, and optional retries of
// UNAVAILABLE for idempotent peers.
package rpcclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Dial returns a client connection to a peer service. Every call without a
// deadline of its own gets timeout, so a stuck peer never hangs a request;
// the deadline covers the retries of WithRetries too. The connection is
// lazy: the peer may start after this service.
func Dial(addr string, timeout time.Duration, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(deadlineInterceptor(timeout)),
	}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// peerRetryConfig retries a call that answered UNAVAILABLE, up to four
// attempts in all, waiting a random time up to 100ms, 200ms and then
// 400ms between them (gRPC's exponential backoff with full jitter). It
// never retries another code: a refusal is an answer.
const peerRetryConfig = `{"methodConfig": [{
	"name": [{}],
	"retryPolicy": {
		"maxAttempts": 4,
		"initialBackoff": "0.1s",
		"maxBackoff": "1s",
		"backoffMultiplier": 2,
		"retryableStatusCodes": ["UNAVAILABLE"]
	}
}]}`

// WithRetries is the Dial option for calls between kassa services: gRPC
// itself retries a call the peer answered UNAVAILABLE (or could not be
// reached for), within the call's deadline. Every such call in kassa is a
// read or carries an idempotency key, so a retry cannot apply anything
// twice. The gateway must not use it: it forwards client requests, which
// may carry no key, and leaves retrying to the client.
func WithRetries() grpc.DialOption {
	return grpc.WithDefaultServiceConfig(peerRetryConfig)
}

func deadlineInterceptor(timeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok && timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
