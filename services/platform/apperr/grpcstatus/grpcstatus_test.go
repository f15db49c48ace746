package grpcstatus_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/lib/pq"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatus(t *testing.T) {
	errInsufficient := apperr.FailedPrecondition("insufficient funds")
	tests := []struct {
		name    string
		err     error
		code    codes.Code
		message string
	}{
		{"invalid", apperr.Invalid("amount", "must be positive"), codes.InvalidArgument, "amount: must be positive"},
		{"wrapped keeps context", fmt.Errorf("%w: balance 5, need 10", errInsufficient), codes.FailedPrecondition, "insufficient funds: balance 5, need 10"},
		{"not found", apperr.NotFound("user %s not found", "x"), codes.NotFound, "user x not found"},
		{"exists", apperr.AlreadyExists("taken"), codes.AlreadyExists, "taken"},
		{"unavailable", apperr.Unavailable("billing down"), codes.Unavailable, "billing down"},
		{"status passes", status.Error(codes.Aborted, "x"), codes.Aborted, "x"},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded"},
		{"driver error hidden", errors.New(`pq: relation "users" does not exist`), codes.Internal, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			log := slog.New(slog.NewTextHandler(&logs, nil))
			st, _ := status.FromError(grpcstatus.ToStatus(context.Background(), log, "/m", tt.err))
			if st.Code() != tt.code || st.Message() != tt.message {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.message)
			}
			if tt.code == codes.Internal && !strings.Contains(logs.String(), "relation") {
				t.Errorf("internal error not logged: %q", logs.String())
			}
		})
	}
}

func TestToStatus_FieldViolation(t *testing.T) {
	err := grpcstatus.ToStatus(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), "/m", apperr.Invalid("user.email", "is not an email address"))
	st, _ := status.FromError(err)
	if len(st.Details()) != 1 {
		t.Fatalf("details = %v, want one BadRequest", st.Details())
	}
	br, ok := st.Details()[0].(*errdetails.BadRequest)
	if !ok || br.FieldViolations[0].Field != "user.email" {
		t.Fatalf("detail = %#v", st.Details()[0])
	}
}

func TestReasonRoundTrip(t *testing.T) {
	base := apperr.FailedPrecondition("insufficient funds").WithReason("INSUFFICIENT_FUNDS")
	err := grpcstatus.ToStatus(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), "/m", fmt.Errorf("%w: balance 1", base))
	if got := grpcstatus.ReasonOf(err); got != "INSUFFICIENT_FUNDS" {
		t.Fatalf("ReasonOf = %q", got)
	}
	if got := grpcstatus.ReasonOf(errors.New("x")); got != "" {
		t.Fatalf("ReasonOf(plain) = %q", got)
	}
}

// errorInfo returns the kassa.dev ErrorInfo reason of a status error, ""
// when it has none.
func errorInfo(t *testing.T, err error) string {
	t.Helper()
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == apperr.Domain {
			return info.Reason
		}
	}
	return ""
}

// A database fault worth a retry (apperr.IsDatabaseUnavailable) answers
// UNAVAILABLE with reason DATABASE_UNAVAILABLE and a fixed message, the
// driver's text only in the log; a fault in the statement stays INTERNAL.
func TestToStatus_DatabaseFaults(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		logged string // a piece of the driver's text the log must hold
	}{
		{"bad connection", fmt.Errorf("record payment outcome: %w", driver.ErrBadConn), codes.Unavailable, "bad connection"},
		{"statement_timeout", &pq.Error{Severity: "ERROR", Code: "57014", Message: "canceling statement due to statement timeout"}, codes.Unavailable, "statement timeout"},
		{"pool exhausted", fmt.Errorf("no connection free within 5s: %w", apperr.ErrDatabaseUnavailable), codes.Unavailable, "no connection free"},
		{"syntax error is a bug", &pq.Error{Severity: "ERROR", Code: "42601", Message: `syntax error at or near "SELEC"`}, codes.Internal, "syntax error"},
		{"plain error is a bug", errors.New("nil map"), codes.Internal, "nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs strings.Builder
			log := slog.New(slog.NewTextHandler(&logs, nil))
			err := grpcstatus.ToStatus(context.Background(), log, "/kassa.order.v1.OrderService/CreateOrder", tt.err)
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code = %v %q, want %v", st.Code(), st.Message(), tt.code)
			}
			wantMsg, wantReason := "internal error", ""
			if tt.code == codes.Unavailable {
				wantMsg, wantReason = "the database is unavailable, retry later", apperr.ReasonDatabaseUnavailable
			}
			if st.Message() != wantMsg || errorInfo(t, err) != wantReason {
				t.Errorf("status = %q reason %q, want %q reason %q", st.Message(), errorInfo(t, err), wantMsg, wantReason)
			}
			if !strings.Contains(logs.String(), tt.logged) || !strings.Contains(logs.String(), "CreateOrder") {
				t.Errorf("log lacks the driver's text %q and the method:\n%s", tt.logged, logs.String())
			}
		})
	}
}

// When the request itself ended, the driver's cancellation of its
// statement is the request's deadline or cancellation, not a database
// fault.
func TestToStatus_DatabaseFaultAfterTheRequestEnded_IsTheContextsCode(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	userCancel := &pq.Error{Severity: "ERROR", Code: "57014", Message: "canceling statement due to user request"}
	if got := status.Code(grpcstatus.ToStatus(expired, log, "/m", userCancel)); got != codes.DeadlineExceeded {
		t.Errorf("after the deadline: %v, want DeadlineExceeded", got)
	}
	if got := status.Code(grpcstatus.ToStatus(canceled, log, "/m", driver.ErrBadConn)); got != codes.Canceled {
		t.Errorf("after cancellation: %v, want Canceled", got)
	}
}

// Every UNAVAILABLE a service sends carries a kassa.dev ErrorInfo: its own
// reason, UNAVAILABLE when it named none, and a peer's status passed back
// as is gains one too (this service did answer). A peer's own reason is
// kept.
func TestToStatus_UnavailableAlwaysHasAReason(t *testing.T) {
	peerDown := status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing\"")
	peerSaid, _ := status.New(codes.Unavailable, "the database is unavailable, retry later").
		WithDetails(&errdetails.ErrorInfo{Reason: "DATABASE_UNAVAILABLE", Domain: apperr.Domain})
	tests := []struct {
		name   string
		err    error
		reason string
	}{
		{"no reason given", apperr.Unavailable("billing did not answer"), "UNAVAILABLE"},
		{"wrapped, no reason given", fmt.Errorf("pay: %w", apperr.Unavailable("billing did not answer")), "UNAVAILABLE"},
		{"own reason", apperr.Unavailable("billing did not answer").WithReason("BILLING_UNAVAILABLE"), "BILLING_UNAVAILABLE"},
		{"peer transport error passed back", peerDown, "UNAVAILABLE"},
		{"peer's own reason passed back", peerSaid.Err(), "DATABASE_UNAVAILABLE"},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := grpcstatus.ToStatus(context.Background(), log, "/m", tt.err)
			if status.Code(err) != codes.Unavailable || errorInfo(t, err) != tt.reason {
				t.Fatalf("status = %v reason %q, want Unavailable reason %q", status.Code(err), errorInfo(t, err), tt.reason)
			}
			if n := len(status.Convert(err).Details()); n != 1 {
				t.Fatalf("%d details, want one ErrorInfo", n)
			}
		})
	}
}

func TestFound(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		found   bool
		wantErr bool
	}{
		{"ok", nil, true, false},
		{"not found", status.Error(codes.NotFound, "no account"), false, false},
		{"unavailable", status.Error(codes.Unavailable, "down"), false, true},
		{"permission denied", status.Error(codes.PermissionDenied, "not for you"), false, true},
		{"not a status", errors.New("boom"), false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			found, err := grpcstatus.Found(tt.err)
			if found != tt.found || (err != nil) != tt.wantErr {
				t.Errorf("Found(%v) = %v, %v; want %v, error %v", tt.err, found, err, tt.found, tt.wantErr)
			}
		})
	}
}

func TestToStatus_OverloadedIsResourceExhaustedWithRetryInfo(t *testing.T) {
	err := grpcstatus.ToStatus(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), "/m",
		fmt.Errorf("admit: %w", apperr.Overloaded(1500*time.Millisecond, "busy")))
	st, _ := status.FromError(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("code = %v, want RESOURCE_EXHAUSTED (not retried by the peers' retry policy)", st.Code())
	}
	if got := grpcstatus.ReasonOf(err); got != apperr.ReasonOverloaded {
		t.Errorf("reason = %q, want %s", got, apperr.ReasonOverloaded)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if delay != 1500*time.Millisecond {
		t.Errorf("RetryInfo delay = %v, want 1.5s", delay)
	}
}
