package billing_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

func TestRefundAmount(t *testing.T) {
	w := billing.Transaction{ID: "w", Kind: billing.Withdrawal, Amount: 100, Currency: "USD"}
	tests := []struct {
		name            string
		of              billing.Transaction
		refunded, asked int64
		want            int64
		wantKind        apperr.Kind
		wantErr         error
		msgHas          string
	}{
		{name: "all of an unrefunded withdrawal", of: w, asked: 0, want: 100},
		{name: "part", of: w, asked: 30, want: 30},
		{name: "the rest after a part", of: w, refunded: 30, asked: 0, want: 70},
		{name: "exactly what remains", of: w, refunded: 30, asked: 70, want: 70},
		{name: "more than remains", of: w, refunded: 30, asked: 71, wantErr: billing.ErrRefundExceedsRemaining,
			msgHas: "at most 70 remain, the refund asks for 71"},
		{name: "the rest of a refunded withdrawal", of: w, refunded: 100, asked: 0, wantErr: billing.ErrRefundExceedsRemaining,
			msgHas: "all 100 USD minor units"},
		{name: "more than the withdrawal took", of: w, asked: 101, wantKind: apperr.KindInvalid, msgHas: "at most the 100"},
		{name: "a deposit", of: billing.Transaction{ID: "d", Kind: billing.Deposit, Amount: 100}, asked: 10,
			wantErr: billing.ErrNotRefundable, msgHas: "transaction d is a deposit"},
		{name: "a refund", of: billing.Transaction{ID: "r", Kind: billing.Refund, Amount: 100}, asked: 10,
			wantErr: billing.ErrNotRefundable, msgHas: "is a refund"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := billing.RefundAmount(tt.of, tt.refunded, tt.asked)
			switch {
			case tt.wantErr == nil && tt.wantKind == 0:
				if err != nil || got != tt.want {
					t.Fatalf("RefundAmount = %d, %v; want %d", got, err, tt.want)
				}
				return
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("RefundAmount = %d, %v; want %v", got, err, tt.wantErr)
			case tt.wantKind != 0 && apperr.KindOf(err) != tt.wantKind:
				t.Fatalf("RefundAmount = %d, %v; want kind %v", got, err, tt.wantKind)
			}
			if !strings.Contains(err.Error(), tt.msgHas) {
				t.Fatalf("error %q does not contain %q", err, tt.msgHas)
			}
		})
	}
}

func TestRefundAmount_RefusalsAreRemembered(t *testing.T) {
	a := billing.Account{UserID: "u", Currency: "USD"}
	m := billing.Movement{UserID: "u", Kind: billing.Refund, RequestID: "k", RefundOf: "w"}
	w := billing.Transaction{ID: "w", Kind: billing.Withdrawal, Amount: 10, Currency: "USD"}
	_, exceeded := billing.RefundAmount(w, 10, 0)
	r, ok := billing.NewRefusal(a, m, exceeded)
	if !ok || r.Reason != "REFUND_EXCEEDS_REMAINING" || r.RefundOf != "w" || r.Amount != 0 || r.Kind != billing.Refund {
		t.Fatalf("NewRefusal = %+v, %v", r, ok)
	}
	if again := r.Err(); !errors.Is(again, billing.ErrRefundExceedsRemaining) || again.Error() != exceeded.Error() {
		t.Fatalf("Err = %v, want %v", again, exceeded)
	}
	// Asking for more than was ever withdrawn is a bad request, answered
	// alike every time without being kept.
	_, invalid := billing.RefundAmount(w, 0, 11)
	if _, ok := billing.NewRefusal(a, m, invalid); ok {
		t.Fatal("an invalid amount was recorded as a refusal")
	}
}

func TestMovementMatches_Refund(t *testing.T) {
	entry := billing.Transaction{UserID: "u", Kind: billing.Refund, Amount: 60, RefundOf: "w", RefundAsked: 0, RequestID: "k"}
	rest := billing.Movement{UserID: "u", Kind: billing.Refund, Amount: 0, RefundOf: "w", RequestID: "k", RefundReason: "other words"}
	if !rest.Matches(entry) {
		t.Fatal("a retry asking for the rest again does not match (the reason is not compared)")
	}
	for name, m := range map[string]billing.Movement{
		"explicit amount equal to what the rest came to": {UserID: "u", Kind: billing.Refund, Amount: 60, RefundOf: "w"},
		"another withdrawal":                             {UserID: "u", Kind: billing.Refund, Amount: 0, RefundOf: "w2"},
		"another user":                                   {UserID: "v", Kind: billing.Refund, Amount: 0, RefundOf: "w"},
	} {
		if m.Matches(entry) {
			t.Errorf("%s: matches", name)
		}
	}
	refusal := billing.Refusal{UserID: "u", Kind: billing.Refund, Amount: 0, Currency: "USD", RefundOf: "w"}
	a := billing.Account{Currency: "USD"}
	if !rest.MatchesRefusal(refusal, a) {
		t.Fatal("a retry of a refused refund does not match its refusal")
	}
	if other := (billing.Movement{UserID: "u", Kind: billing.Refund, RefundOf: "w2"}); other.MatchesRefusal(refusal, a) {
		t.Fatal("a refund of another withdrawal matches the refusal")
	}
}

func TestVerifyLedger_Refunds(t *testing.T) {
	a := billing.Account{UserID: "u", Balance: 100, Currency: "USD"}
	e := func(id string, k billing.Kind, amount, after int64, of string) billing.Transaction {
		return billing.Transaction{ID: id, UserID: "u", Kind: k, Amount: amount, Currency: "USD", BalanceAfter: after, RefundOf: of}
	}
	good := []billing.Transaction{e("d", billing.Deposit, 100, 100, ""), e("w", billing.Withdrawal, 40, 60, ""),
		e("r1", billing.Refund, 15, 75, "w"), e("r2", billing.Refund, 25, 100, "w")}
	if err := billing.VerifyLedger(a, good); err != nil {
		t.Fatalf("consistent ledger: %v", err)
	}
	bad := map[string][]billing.Transaction{
		"refunds past the withdrawal": {e("d", billing.Deposit, 100, 100, ""), e("w", billing.Withdrawal, 40, 60, ""),
			e("r1", billing.Refund, 30, 90, "w"), e("r2", billing.Refund, 20, 110, "w")},
		"refund of a deposit": {e("d", billing.Deposit, 50, 50, ""), e("r", billing.Refund, 50, 100, "d")},
		"refund before its withdrawal": {e("d", billing.Deposit, 60, 60, ""), e("r", billing.Refund, 40, 100, "w"),
			e("w", billing.Withdrawal, 40, 60, "")},
	}
	for name, ledger := range bad {
		if err := billing.VerifyLedger(billing.Account{UserID: "u", Balance: ledger[len(ledger)-1].BalanceAfter, Currency: "USD"}, ledger); err == nil {
			t.Errorf("%s: VerifyLedger accepted it", name)
		}
	}
}
