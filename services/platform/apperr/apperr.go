// Package apperr defines the error kinds kassa services return. Domain and
// use-case packages declare their errors with these constructors and know
// nothing of the transport: package grpcstatus turns them into gRPC
// statuses, in exactly one place per server (the error interceptor of
// package server), so handlers never pick codes themselves.
package apperr

import (
	"errors"
	"fmt"
	"time"
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
	// KindOverloaded: the service refused the request unstarted because
	// it has more work than it can finish in time; nothing was done, and
	// the caller may try again after Error.RetryAfter. It is not
	// KindUnavailable on purpose: clients and peers retry UNAVAILABLE at
	// once, which would multiply the load that caused the refusal.
	KindOverloaded
)

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
	// RetryAfter is how long a KindOverloaded refusal is expected to
	// last, sent to the caller as a hint (0: none).
	RetryAfter time.Duration
}

// Domain is the ErrorInfo domain of kassa errors.
const Domain = "kassa.dev"

// Reasons shared by every service. The first two are what the gRPC mapping
// gives UNAVAILABLE errors that name none of their own.
const (
	// ReasonUnavailable: a dependency of the service failed.
	ReasonUnavailable = "UNAVAILABLE"
	// ReasonDatabaseUnavailable: the service's database did not answer in
	// time, refused connections or is restarting; also a pool with no
	// connection free within the wait bound.
	ReasonDatabaseUnavailable = "DATABASE_UNAVAILABLE"
	// ReasonRequestIDReused: an idempotency key came back with other
	// parameters than its first use. The gateway answers it with 422.
	ReasonRequestIDReused = "REQUEST_ID_REUSED"
	// ReasonOverloaded: the service shed the request unstarted (admission
	// control); the gateway answers it with 429 and Retry-After.
	ReasonOverloaded = "OVERLOADED"
)

// WithReason returns a copy of e with a machine-readable reason.
func (e *Error) WithReason(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

// ReasonOf returns the Reason of the first *Error in err's chain, or "".
// It reads errors of this process only; the reason a peer sent in a gRPC
// status is read by grpcstatus.ReasonOf.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
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

// Overloaded reports a request refused unstarted for overload, to be
// tried again after retryAfter.
func Overloaded(retryAfter time.Duration, format string, args ...any) *Error {
	return &Error{Kind: KindOverloaded, Message: fmt.Sprintf(format, args...), Reason: ReasonOverloaded, RetryAfter: retryAfter}
}

// KindOf returns the kind of the first *Error in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// RequestIDReused reports an idempotency key used before with other
// parameters. Every service answers a reused key with this error, so
// clients read one message and one reason whichever service refused.
func RequestIDReused(requestID string) error {
	return AlreadyExists("request_id %q was already used with different parameters", requestID).
		WithReason(ReasonRequestIDReused)
}
