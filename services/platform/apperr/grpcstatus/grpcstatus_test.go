package grpcstatus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/apperr"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
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
