// Package apperr defines the error kinds kassa services return and maps them
// to gRPC status codes. Domain packages declare their errors with these
// constructors; the gRPC server turns them into statuses in exactly one place
// (ToStatus), so handlers never pick codes themselves.
package apperr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// Kind classifies an error by what the caller should do about it.
type Kind int

const (
	// KindInvalid: the request is wrong and must not be retried as is.
	KindInvalid Kind = iota + 1
	// KindNotFound: the named resource does not exist.
	KindNotFound
	// KindAlreadyExists: the resource or idempotency key is taken.
	KindAlreadyExists
	// KindFailedPrecondition: the system is not in a state that allows it
	// (insufficient funds, closed account).
	KindFailedPrecondition
	// KindUnavailable: a dependency failed; retrying later may succeed.
	KindUnavailable
)

var kindCodes = map[Kind]codes.Code{
	KindInvalid:            codes.InvalidArgument,
	KindNotFound:           codes.NotFound,
	KindAlreadyExists:      codes.AlreadyExists,
	KindFailedPrecondition: codes.FailedPrecondition,
	KindUnavailable:        codes.Unavailable,
}

// Error is a classified error. Its message is meant for API clients, so it
// must never contain SQL or driver text.
type Error struct {
	Kind    Kind
	Message string
	// Field names the request field at fault for KindInvalid errors.
	Field string
	// Reason is a stable UPPER_SNAKE_CASE code for machines (AIP-193), sent
	// as a google.rpc.ErrorInfo detail, e.g. INSUFFICIENT_FUNDS.
	Reason string
}

// Domain is the ErrorInfo domain of kassa errors.
const Domain = "kassa.dev"

// Reasons ToStatus gives UNAVAILABLE errors that name none of their own.
const (
	// ReasonUnavailable: a dependency of the service failed.
	ReasonUnavailable = "UNAVAILABLE"
	// ReasonDatabaseUnavailable: the service's database did not answer in
	// time, refused connections or is restarting; also a pool with no
	// connection free within the wait bound.
	ReasonDatabaseUnavailable = "DATABASE_UNAVAILABLE"
)

// WithReason returns a copy of e with a machine-readable reason.
func (e *Error) WithReason(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

// ReasonOf returns the reason of err: the Reason of a classified error in
// its chain (from this service), else the ErrorInfo reason of a gRPC
// status error from a peer kassa service, else "".
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == Domain {
			return info.Reason
		}
	}
	return ""
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Invalid reports a bad request field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports a missing resource.
func NotFound(format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, args...)}
}

// AlreadyExists reports a conflict with an existing resource or request.
func AlreadyExists(format string, args ...any) *Error {
	return &Error{Kind: KindAlreadyExists, Message: fmt.Sprintf(format, args...)}
}

// FailedPrecondition reports a request the current state does not allow.
func FailedPrecondition(format string, args ...any) *Error {
	return &Error{Kind: KindFailedPrecondition, Message: fmt.Sprintf(format, args...)}
}

// Unavailable reports a failed dependency.
func Unavailable(format string, args ...any) *Error {
	return &Error{Kind: KindUnavailable, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// ToStatus converts an error returned by a service method to the gRPC
// status the client sees. Classified errors keep their message (wrapping
// context included); gRPC statuses pass through; context errors become
// DEADLINE_EXCEEDED or CANCELED; a database that is unreachable, restarting
// or timing out becomes UNAVAILABLE (see databaseUnavailable); anything
// else is logged with the request context and hidden behind a generic
// INTERNAL. Every UNAVAILABLE carries a kassa.dev ErrorInfo, which is how a
// caller tells "the service answered: retry later" from a transport that
// never reached it.
func ToStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		st := status.New(kindCodes[e.Kind], err.Error())
		if e.Kind == KindInvalid && e.Field != "" {
			st = withDetail(st, &errdetails.BadRequest{
				FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: e.Field, Description: e.Message}},
			})
		}
		reason := e.Reason
		if reason == "" && e.Kind == KindUnavailable {
			reason = ReasonUnavailable
		}
		if reason != "" {
			st = withDetail(st, &errdetails.ErrorInfo{Reason: reason, Domain: Domain})
		}
		return st.Err()
	}
	if st, ok := status.FromError(err); ok {
		if st.Code() == codes.Unavailable && ReasonOf(err) == "" {
			// A peer's transport failure handed back as is: this service
			// did answer, so say so.
			return withDetail(st, &errdetails.ErrorInfo{Reason: ReasonUnavailable, Domain: Domain}).Err()
		}
		return err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	}
	if databaseUnavailable(err) {
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
		return withDetail(st, &errdetails.ErrorInfo{Reason: ReasonDatabaseUnavailable, Domain: Domain}).Err()
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
