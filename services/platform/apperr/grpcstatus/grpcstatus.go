// Package grpcstatus is the gRPC side of package apperr: it turns the
// errors of a service method into the google.rpc.Status its client sees,
// and reads the kassa.dev reason back out of a peer's status. Only
// transport code imports it (the server's error interceptor, the gateway,
// the adapters that call peers), so domain and use-case packages stay free
// of gRPC.
package grpcstatus

import (
	"context"
	"errors"
	"log/slog"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

var kindCodes = map[apperr.Kind]codes.Code{
	apperr.KindInvalid:            codes.InvalidArgument,
	apperr.KindNotFound:           codes.NotFound,
	apperr.KindAlreadyExists:      codes.AlreadyExists,
	apperr.KindFailedPrecondition: codes.FailedPrecondition,
	apperr.KindUnavailable:        codes.Unavailable,
	// RESOURCE_EXHAUSTED, which rpcclient.WithRetries does not retry, so a
	// shed call is not sent again at once by every peer in a chain, and
	// which the gateway answers with 429.
	apperr.KindOverloaded: codes.ResourceExhausted,
}

// ReasonOf returns the reason of err: the Reason of a classified error in
// its chain (from this process), else the ErrorInfo reason of a gRPC
// status error from a peer kassa service, else "".
func ReasonOf(err error) string {
	if r := apperr.ReasonOf(err); r != "" {
		return r
	}
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == apperr.Domain {
			return info.Reason
		}
	}
	return ""
}

// ToStatus converts an error returned by a service method to the gRPC
// status the client sees. Classified errors keep their message (wrapping
// context included); gRPC statuses pass through; context errors become
// DEADLINE_EXCEEDED or CANCELED; a database that is unreachable, restarting
// or timing out becomes UNAVAILABLE (see apperr.IsDatabaseUnavailable);
// anything else is logged with the request context and hidden behind a
// generic INTERNAL. Every UNAVAILABLE carries a kassa.dev ErrorInfo, which
// is how a caller tells "the service answered: retry later" from a
// transport that never reached it.
func ToStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	var e *apperr.Error
	if errors.As(err, &e) {
		st := status.New(kindCodes[e.Kind], err.Error())
		if e.Kind == apperr.KindInvalid && e.Field != "" {
			st = withDetail(st, &errdetails.BadRequest{
				FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: e.Field, Description: e.Message}},
			})
		}
		reason := e.Reason
		if reason == "" && e.Kind == apperr.KindUnavailable {
			reason = apperr.ReasonUnavailable
		}
		if reason != "" {
			st = withDetail(st, &errdetails.ErrorInfo{Reason: reason, Domain: apperr.Domain})
		}
		if e.RetryAfter > 0 {
			// google.rpc.RetryInfo, the standard hint; the gateway turns it
			// into Retry-After.
			st = withDetail(st, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
		}
		return st.Err()
	}
	if st, ok := status.FromError(err); ok {
		if st.Code() == codes.Unavailable && ReasonOf(err) == "" {
			// A peer's transport failure handed back as is: this service
			// did answer, so say so.
			return withDetail(st, &errdetails.ErrorInfo{Reason: apperr.ReasonUnavailable, Domain: apperr.Domain}).Err()
		}
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	}
	if apperr.IsDatabaseUnavailable(err) {
		// The driver cancels a statement when the request's context ends
		// and reports that as query_canceled or a broken connection: the
		// request's end is the cause then, not the database.
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return status.Error(codes.DeadlineExceeded, "deadline exceeded")
		case ctx.Err() != nil:
			return status.Error(codes.Canceled, "request canceled")
		}
		log.WarnContext(ctx, "database unavailable", "method", method, "error", err)
		st := status.New(codes.Unavailable, "the database is unavailable, retry later")
		return withDetail(st, &errdetails.ErrorInfo{Reason: apperr.ReasonDatabaseUnavailable, Domain: apperr.Domain}).Err()
	}
	log.ErrorContext(ctx, "internal error", "method", method, "error", err)
	return status.Error(codes.Internal, "internal error")
}

func withDetail(st *status.Status, detail protoadapt.MessageV1) *status.Status {
	if withDetails, err := st.WithDetails(detail); err == nil {
		return withDetails
	}
	return st
}

// Found reads the answer of a peer's Get call as an existence check: OK is
// true, NOT_FOUND false, and anything else (UNAVAILABLE, DEADLINE_EXCEEDED,
// PERMISSION_DENIED from a misconfigured identity) an error, never a guess.
func Found(err error) (bool, error) {
	switch status.Code(err) {
	case codes.OK:
		return true, nil
	case codes.NotFound:
		return false, nil
	}
	return false, err
}
