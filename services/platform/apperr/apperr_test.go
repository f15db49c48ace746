package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kassa-dev/kassa/services/platform/apperr"
)

func TestKindOf(t *testing.T) {
	if got := apperr.KindOf(fmt.Errorf("x: %w", apperr.NotFound("y"))); got != apperr.KindNotFound {
		t.Fatalf("KindOf = %v", got)
	}
	if got := apperr.KindOf(errors.New("plain")); got != 0 {
		t.Fatalf("KindOf(plain) = %v", got)
	}
}

// A service reads the reason of its own classified errors too (for the
// reason label of its metrics), through any wrapping.
func TestReasonOf_LocalError(t *testing.T) {
	base := apperr.FailedPrecondition("account is closed").WithReason("ACCOUNT_CLOSED")
	if got := apperr.ReasonOf(fmt.Errorf("move: %w", fmt.Errorf("%w: closed at noon", base))); got != "ACCOUNT_CLOSED" {
		t.Fatalf("ReasonOf(local) = %q, want ACCOUNT_CLOSED", got)
	}
	if got := apperr.ReasonOf(apperr.NotFound("no reason given")); got != "" {
		t.Fatalf("ReasonOf(local without reason) = %q", got)
	}
}

// Clients and the gateway (422 by reason) rely on this message and reason,
// whichever service refuses the key.
func TestRequestIDReused(t *testing.T) {
	err := fmt.Errorf("create order: %w", apperr.RequestIDReused("k-1"))
	if got, want := errors.Unwrap(err).Error(), `request_id "k-1" was already used with different parameters`; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if apperr.KindOf(err) != apperr.KindAlreadyExists || apperr.ReasonOf(err) != "REQUEST_ID_REUSED" {
		t.Errorf("kind %v reason %q, want AlreadyExists REQUEST_ID_REUSED", apperr.KindOf(err), apperr.ReasonOf(err))
	}
}
