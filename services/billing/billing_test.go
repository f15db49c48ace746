package billing_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/services/billing"
	"github.com/kassa-dev/kassa/services/platform/apperr"
)

func TestAccountApply(t *testing.T) {
	open := billing.Account{UserID: "u", Balance: 100, Currency: "USD"}
	closed := open
	closed.CloseTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	full := open
	full.Balance = math.MaxInt64 - 10
	tests := []struct {
		name    string
		acct    billing.Account
		m       billing.Movement
		want    int64
		wantErr error
		msgHas  string
	}{
		{"deposit", open, billing.Movement{Kind: billing.Deposit, Amount: 50}, 150, nil, ""},
		{"deposit in the account currency", open, billing.Movement{Kind: billing.Deposit, Amount: 50, Currency: "USD"}, 150, nil, ""},
		{"withdraw part", open, billing.Movement{Kind: billing.Withdrawal, Amount: 30}, 70, nil, ""},
		{"withdraw all", open, billing.Movement{Kind: billing.Withdrawal, Amount: 100}, 0, nil, ""},
		{"withdraw too much", open, billing.Movement{Kind: billing.Withdrawal, Amount: 101}, 0, billing.ErrInsufficientFunds, "balance is 100 USD minor units, the withdrawal needs 101"},
		{"other currency", open, billing.Movement{Kind: billing.Deposit, Amount: 1, Currency: "EUR"}, 0, billing.ErrCurrencyMismatch, "in USD, the request is in EUR"},
		{"closed deposit", closed, billing.Movement{Kind: billing.Deposit, Amount: 1}, 0, billing.ErrAccountClosed, "2025-01-02T03:04:05Z"},
		{"closed withdrawal", closed, billing.Movement{Kind: billing.Withdrawal, Amount: 1}, 0, billing.ErrAccountClosed, "closed"},
		{"deposit up to the limit", full, billing.Movement{Kind: billing.Deposit, Amount: 10}, math.MaxInt64, nil, ""},
		{"deposit past the limit", full, billing.Movement{Kind: billing.Deposit, Amount: 11}, 0, billing.ErrBalanceLimit, "cannot take a deposit of 11"},
		{"refund", open, billing.Movement{Kind: billing.Refund, Amount: 25}, 125, nil, ""},
		// Money owed to the customer arrives whatever became of the account.
		{"refund to a closed account", closed, billing.Movement{Kind: billing.Refund, Amount: 25}, 125, nil, ""},
		{"refund past the limit", full, billing.Movement{Kind: billing.Refund, Amount: 11}, 0, billing.ErrBalanceLimit, "cannot take a refund of 11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.acct.Apply(tt.m)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Apply = %d, %v; want error %v", got, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("Apply = %d, want %d", got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.msgHas) {
				t.Fatalf("error %q does not contain %q", err, tt.msgHas)
			}
		})
	}
}

func TestAccountApply_RefusalsAreFailedPrecondition(t *testing.T) {
	for _, err := range []error{billing.ErrInsufficientFunds, billing.ErrCurrencyMismatch, billing.ErrAccountClosed, billing.ErrBalanceLimit,
		billing.ErrNotRefundable, billing.ErrRefundExceedsRemaining} {
		if apperr.KindOf(err) != apperr.KindFailedPrecondition {
			t.Errorf("%v: kind %v, want FailedPrecondition", err, apperr.KindOf(err))
		}
	}
}

func TestAccountApply_BadMovementIsNotAClientError(t *testing.T) {
	a := billing.Account{Balance: 10, Currency: "USD"}
	for _, m := range []billing.Movement{{Kind: "transfer", Amount: 1}, {Kind: billing.Deposit, Amount: 0}, {Kind: billing.Withdrawal, Amount: -5}} {
		if _, err := a.Apply(m); err == nil || apperr.KindOf(err) != 0 {
			t.Errorf("Apply(%+v) = %v, want an unclassified error", m, err)
		}
	}
}

func TestMovementMatches(t *testing.T) {
	tx := billing.Transaction{UserID: "u", Kind: billing.Withdrawal, Amount: 30, Currency: "USD", RequestID: "k", OrderID: "o"}
	same := billing.Movement{UserID: "u", Kind: billing.Withdrawal, Amount: 30, RequestID: "k", OrderID: "o"}
	if !same.Matches(tx) {
		t.Error("retry without currency does not match")
	}
	withCurrency := same
	withCurrency.Currency = "USD"
	if !withCurrency.Matches(tx) {
		t.Error("retry naming the account currency does not match")
	}
	for name, edit := range map[string]func(*billing.Movement){
		"kind":     func(m *billing.Movement) { m.Kind = billing.Deposit },
		"amount":   func(m *billing.Movement) { m.Amount = 31 },
		"currency": func(m *billing.Movement) { m.Currency = "EUR" },
		"order":    func(m *billing.Movement) { m.OrderID = "" },
		"user":     func(m *billing.Movement) { m.UserID = "v" },
	} {
		m := same
		edit(&m)
		if m.Matches(tx) {
			t.Errorf("other %s matches", name)
		}
	}
}

func TestVerifyLedger(t *testing.T) {
	a := billing.Account{UserID: "u", Balance: 70, Currency: "USD"}
	entry := func(k billing.Kind, amount, after int64) billing.Transaction {
		return billing.Transaction{UserID: "u", Kind: k, Amount: amount, Currency: "USD", BalanceAfter: after}
	}
	good := []billing.Transaction{entry(billing.Deposit, 100, 100), entry(billing.Withdrawal, 30, 70)}
	if err := billing.VerifyLedger(a, good); err != nil {
		t.Fatalf("consistent ledger: %v", err)
	}
	bad := map[string][]billing.Transaction{
		"wrong balance_after": {entry(billing.Deposit, 100, 100), entry(billing.Withdrawal, 30, 60)},
		"sum differs":         {entry(billing.Deposit, 100, 100)},
		"negative":            {entry(billing.Withdrawal, 30, -30), entry(billing.Deposit, 100, 70)},
		"other currency":      {entry(billing.Deposit, 100, 100), {UserID: "u", Kind: billing.Withdrawal, Amount: 30, Currency: "EUR", BalanceAfter: 70}},
		"unknown kind":        {entry("transfer", 70, 70)},
	}
	for name, ledger := range bad {
		if err := billing.VerifyLedger(a, ledger); err == nil {
			t.Errorf("%s: VerifyLedger accepted it", name)
		}
	}
}

func TestRefusal_ErrRepeatsTheFirstAnswer(t *testing.T) {
	a := billing.Account{UserID: "u", Balance: 5, Currency: "USD"}
	m := billing.Movement{UserID: "u", Kind: billing.Withdrawal, Amount: 9, RequestID: "k"}
	_, first := a.Apply(m)
	r, ok := billing.NewRefusal(a, m, first)
	if !ok || r.Reason != "INSUFFICIENT_FUNDS" || r.Message != first.Error() || r.Currency != "USD" || r.RequestID != "k" {
		t.Fatalf("NewRefusal = %+v, %v", r, ok)
	}
	again := r.Err()
	if !errors.Is(again, billing.ErrInsufficientFunds) || again.Error() != first.Error() ||
		apperr.ReasonOf(again) != apperr.ReasonOf(first) || apperr.KindOf(again) != apperr.KindOf(first) {
		t.Fatalf("Err = %v, want the first answer %v", again, first)
	}
	for _, err := range []error{billing.ErrAccountNotFound, errors.New("driver: bad connection"), apperr.RequestIDReused("k")} {
		if _, ok := billing.NewRefusal(a, m, err); ok {
			t.Errorf("NewRefusal(%v) recorded a refusal", err)
		}
	}
	if err := (billing.Refusal{Reason: "NO_SUCH_RULE"}).Err(); apperr.KindOf(err) != 0 {
		t.Errorf("unknown reason = %v, want an unclassified error", err)
	}
}

func TestMovementMatchesRefusal(t *testing.T) {
	a := billing.Account{UserID: "u", Currency: "USD"}
	r := billing.Refusal{UserID: "u", Kind: billing.Withdrawal, Amount: 30, Currency: "USD", RequestID: "k", OrderID: "o"}
	same := billing.Movement{UserID: "u", Kind: billing.Withdrawal, Amount: 30, RequestID: "k", OrderID: "o"}
	if !same.MatchesRefusal(r, a) {
		t.Error("retry without currency does not match a refusal in the account currency")
	}
	eur := r
	eur.Currency = "EUR"
	if same.MatchesRefusal(eur, a) {
		t.Error("a retry in the account currency matches a refusal in EUR")
	}
	for name, edit := range map[string]func(*billing.Movement){
		"kind":     func(m *billing.Movement) { m.Kind = billing.Deposit },
		"amount":   func(m *billing.Movement) { m.Amount = 31 },
		"currency": func(m *billing.Movement) { m.Currency = "EUR" },
		"order":    func(m *billing.Movement) { m.OrderID = "" },
		"user":     func(m *billing.Movement) { m.UserID = "v" },
	} {
		m := same
		edit(&m)
		if m.MatchesRefusal(r, a) {
			t.Errorf("other %s matches", name)
		}
	}
}

func TestMovement_ErrKeyReused_NamesTheKey(t *testing.T) {
	client := billing.Movement{RequestID: "k"}
	order := billing.Movement{RequestID: "order/o", OrderID: "o"}
	for m, want := range map[billing.Movement]string{client: `request_id "k"`, order: `order_id "o"`} {
		err := m.ErrKeyReused()
		if apperr.ReasonOf(err) != "REQUEST_ID_REUSED" || apperr.KindOf(err) != apperr.KindAlreadyExists || !strings.Contains(err.Error(), want) {
			t.Errorf("ErrKeyReused(%+v) = %v, want REQUEST_ID_REUSED naming %s", m, err, want)
		}
	}
}
