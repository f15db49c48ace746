package gateway

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// upstreamInterceptor runs on every call the gateway makes to the service
// name. It
//   - puts the Idempotency-Key header into the request's request_id field;
//   - bounds the call by timeout: a client's Grpc-Timeout header may
//     shorten a call but not make it longer than the gateway allows;
//   - hides connection failures (which name internal addresses) behind a
//     plain "service unavailable" and logs the details instead.
func upstreamInterceptor(name string, timeout time.Duration, log *slog.Logger) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if err := applyIdempotencyKey(ctx, req); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var p peer.Peer
		err := invoker(ctx, method, req, reply, cc, append(opts[:len(opts):len(opts)], grpc.Peer(&p))...)
		// Without a peer the call never reached the service, so the status
		// was made by the client library and its message is about our
		// network, not for API clients.
		if err != nil && p.Addr == nil && status.Code(err) == codes.Unavailable {
			if method != healthpb.Health_Check_FullMethodName { // /readyz reports those
				log.WarnContext(ctx, "upstream unreachable", "upstream", name, "method", method, "error", err)
			}
			return status.Errorf(codes.Unavailable, "the %s service is unavailable, retry later", name)
		}
		return err
	}
}

// applyIdempotencyKey copies the request's Idempotency-Key header into the
// top-level string field request_id of req, the services' idempotency key
// (AIP-155). A request_id already set by the client (body or query) must
// equal the header. Requests without such a field ignore the header.
func applyIdempotencyKey(ctx context.Context, req any) error {
	key, ok := idempotencyKeyFrom(ctx)
	if !ok {
		return nil
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	m := msg.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("request_id")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
		return nil
	}
	switch current := m.Get(fd).String(); current {
	case "":
		m.Set(fd, protoreflect.ValueOfString(key))
	case key:
	default:
		return status.Error(codes.InvalidArgument, "Idempotency-Key header and request_id differ")
	}
	return nil
}
