package order_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kassa-dev/kassa/services/order"
)

func TestFormatAmount_UsesTheCurrencysMinorUnit(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		want     string
	}{
		{1234, "USD", "12.34 USD"},
		{5, "EUR", "0.05 EUR"},
		{100, "USD", "1.00 USD"},
		{1_000_000_000_000_000, "USD", "10000000000000.00 USD"},
		{1234, "JPY", "1234 JPY"},
		{1234, "KWD", "1.234 KWD"},
		{7, "BHD", "0.007 BHD"},
		{-250, "USD", "-2.50 USD"},
	}
	for _, tt := range tests {
		if got := order.FormatAmount(tt.amount, tt.currency); got != tt.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tt.amount, tt.currency, got, tt.want)
		}
	}
}

func TestOutcomeLetter_Paid_NamesOrderAndAmount(t *testing.T) {
	o := order.Order{ID: "0d9a6f0e-54b5-4f57-a3c1-6f7a3f4b5c11", UserID: "u", Email: "ada@example.com",
		Price: 1234, Currency: "USD", Status: order.Paid}
	l := order.OutcomeLetter(o)
	if l.Subject != "Order "+o.ID+" is paid" {
		t.Errorf("subject = %q", l.Subject)
	}
	if !strings.Contains(l.Body, o.ID) || !strings.Contains(l.Body, "12.34 USD") {
		t.Errorf("body = %q, want the order id and 12.34 USD", l.Body)
	}
	if l.UserID != "u" || l.Email != o.Email || l.OrderID != o.ID || l.RequestID != "order/"+o.ID+"/letter" {
		t.Errorf("letter = %+v, want it addressed to the buyer under the order's letter key", l)
	}
}

func TestOutcomeLetter_Rejected_GivesAmountAndReason(t *testing.T) {
	o := order.Order{ID: "id-1", Price: 1000, Currency: "USD", Status: order.Rejected,
		FailureReason: "insufficient funds: balance 500, withdrawal needs 1000"}
	l := order.OutcomeLetter(o)
	if l.Subject != "Order id-1 was declined" {
		t.Errorf("subject = %q", l.Subject)
	}
	if !strings.Contains(l.Body, "10.00 USD") || !strings.Contains(l.Body, o.FailureReason) {
		t.Errorf("body = %q, want the amount and the reason", l.Body)
	}
}

// Retries must send the identical letter, or the notification service
// would refuse the reused key.
func TestOutcomeLetter_DependsOnlyOnStoredFields(t *testing.T) {
	o := order.Order{ID: "id-1", Price: 1, Currency: "USD", Status: order.Paid}
	later := o
	later.UpdateTime, later.NotifyTime = time.Now(), time.Now()
	if order.OutcomeLetter(o) != order.OutcomeLetter(later) {
		t.Error("the letter changed with the order's timestamps")
	}
}

func TestDeclined_AlwaysHasABoundedReason(t *testing.T) {
	if got := order.Declined("  "); got.Status != order.Rejected || got.Reason == "" {
		t.Errorf("Declined(blank) = %+v, want a rejected outcome with a reason", got)
	}
	if got := order.Declined("no money"); got.Reason != "no money" {
		t.Errorf("reason = %q, want billing's message", got.Reason)
	}
	long := order.Declined(strings.Repeat("é", 5000))
	if n := utf8.RuneCountInString(long.Reason); n != order.MaxReasonLen || !utf8.ValidString(long.Reason) {
		t.Errorf("long reason has %d runes (valid %v), want %d", n, utf8.ValidString(long.Reason), order.MaxReasonLen)
	}
}

func TestOrder_LifeCycle(t *testing.T) {
	tests := []struct {
		o                     order.Order
		final, notified, done bool
	}{
		{order.Order{Status: order.Pending}, false, false, false},
		{order.Order{Status: order.Paid}, true, false, false},
		{order.Order{Status: order.Rejected, NotifyTime: time.Now()}, true, true, true},
	}
	for _, tt := range tests {
		if tt.o.Final() != tt.final || tt.o.Notified() != tt.notified || tt.o.Done() != tt.done {
			t.Errorf("%s notified=%v: final %v notified %v done %v", tt.o.Status, tt.o.Notified(), tt.o.Final(), tt.o.Notified(), tt.o.Done())
		}
	}
}
