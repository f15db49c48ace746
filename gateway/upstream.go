package gateway

import (
	"context"
	"log/slog"
	"time"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/rpcserver"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// upstreamInterceptor runs on every call the gateway makes to the service
// name. It
//   - puts the request's idempotency key (header or body) into request_id;
//   - refuses fields only the order service may set (refuseServerOwned);
//   - refuses strings that are not text, as the services would;
//   - bounds the call by timeout: a client's Grpc-Timeout header may
//     shorten a call but not make it longer than the gateway allows;
//   - answers transport failures with the gateway's own text (ownError).
func upstreamInterceptor(name string, timeout time.Duration, log *slog.Logger) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if err := applyIdempotencyKey(ctx, req); err != nil {
			return err
		}
		if err := refuseServerOwned(req); err != nil {
			return err
		}
		if m, ok := req.(proto.Message); ok {
			// Path and query values are not UTF-8-checked by the decoder;
			// refused here they are the services' 400, not a marshal 500.
			if err := rpcserver.CheckText(m); err != nil {
				return grpcstatus.ToStatus(ctx, log, method, err)
			}
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var p peer.Peer
		err := invoker(ctx, method, req, reply, cc, append(opts[:len(opts):len(opts)], grpc.Peer(&p))...)
		return ownError(ctx, name, method, p, err, log)
	}
}

// ownError replaces the messages of the gRPC library with the gateway's
// own. An UNAVAILABLE or DEADLINE_EXCEEDED without a kassa.dev ErrorInfo
// was made by the transport, not by the service (connection refused, reset
// in the middle of a call, GOAWAY while the service drained, the call's
// deadline): its text is about the gateway's network and names internal
// addresses, so it goes to the log and the client gets a stable sentence.
// The services' own UNAVAILABLE always carries an ErrorInfo ("order X is
// pending: retry with the same request_id") and is passed on unchanged.
func ownError(ctx context.Context, name, method string, p peer.Peer, err error, log *slog.Logger) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	var own error
	logMsg := "upstream unavailable"
	switch {
	case grpcstatus.ReasonOf(st.Err()) != "":
		return err
	case st.Code() == codes.Unavailable:
		own = status.Errorf(codes.Unavailable, "the %s service is unavailable, retry later", name)
	case st.Code() == codes.DeadlineExceeded:
		own = status.Errorf(codes.DeadlineExceeded, "the %s service did not answer in time, retry later", name)
		logMsg = "upstream timed out"
	default:
		return err
	}
	if method != healthpb.Health_Check_FullMethodName { // /readyz reports those
		attrs := []any{"upstream", name, "method", method, "grpc_code", st.Code().String(), "error", st.Message()}
		if p.Addr != nil {
			attrs = append(attrs, "peer", p.Addr.String()) // the call had reached a server
		}
		log.WarnContext(ctx, logMsg, attrs...)
	}
	return own
}

// refuseServerOwned refuses, from the public API, WithdrawRequest.order_id,
// which only the order service sets when it pays an order. Billing keeps
// the order service's own idempotency in the order_id namespace (one debit
// per order), so a client able to write there could pre-empt or block a
// step of an order. (Letters have no public route to guard any more.)
func refuseServerOwned(req any) error {
	var field string
	switch m := req.(type) {
	case *billingv1.WithdrawRequest:
		if m.GetOrderId() != "" {
			field = "order_id"
		}
	}
	if field == "" {
		return nil
	}
	const msg = "order_id is set by the order service"
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}},
	})
	if err != nil {
		return status.Error(codes.InvalidArgument, msg)
	}
	return st.Err()
}
