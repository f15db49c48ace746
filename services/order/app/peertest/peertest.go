// Package peertest is the contract of the order service's peers, written
// down as the use cases rely on it: one suite per peer interface
// (app.Users, app.Payments, app.Letters). The same suites run against the
// fake services of the order tests (internal/fakepeers, through the peers
// adapters) and against the real user, billing and notification services
// (from the e2e module, which may import them all), so a fake cannot keep a
// rule the real service no longer keeps, or miss one it gained.
//
// Each suite takes a constructor that returns the peer under test with
// hooks to arrange its state; the hooks stand for what an operator or
// another service would do and are not part of the contract.
package peertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/kassa-dev/kassa/services/order"
	"github.com/kassa-dev/kassa/services/order/app"
)

// Users is a user service under test.
type Users struct {
	app.Users
	// Add registers a user and returns its id and email address.
	Add func(t *testing.T) (id, email string)
	// Delete deletes user id.
	Delete func(t *testing.T, id string)
}

// RunUsers checks what the use cases need of the user service: a buyer's
// address, and order.ErrUnknownUser for a user that never existed or was
// deleted (which becomes USER_NOT_FOUND rather than UNAVAILABLE).
func RunUsers(t *testing.T, newUsers func(t *testing.T) Users) {
	ctx := context.Background()
	t.Run("KnownUser_Email", func(t *testing.T) {
		u := newUsers(t)
		id, email := u.Add(t)
		if got, err := u.Email(ctx, id); err != nil || got != email {
			t.Fatalf("Email(%s) = %q, %v; want %q", id, got, err, email)
		}
	})
	t.Run("NeverExisted_Unknown", func(t *testing.T) {
		u := newUsers(t)
		if _, err := u.Email(ctx, uuid.NewString()); !errors.Is(err, order.ErrUnknownUser) {
			t.Fatalf("Email of a user that never existed = %v, want order.ErrUnknownUser", err)
		}
	})
	t.Run("Deleted_Unknown", func(t *testing.T) {
		u := newUsers(t)
		id, _ := u.Add(t)
		u.Delete(t, id)
		if _, err := u.Email(ctx, id); !errors.Is(err, order.ErrUnknownUser) {
			t.Fatalf("Email of a deleted user = %v, want order.ErrUnknownUser", err)
		}
	})
}

// Billing is a billing service under test.
type Billing struct {
	app.Payments
	// Open gives userID an open account in currency holding balance.
	Open func(t *testing.T, userID, currency string, balance int64)
	// Deposit adds amount to userID's account.
	Deposit func(t *testing.T, userID string, amount int64)
	// Close closes userID's account, as deleting the user does.
	Close func(t *testing.T, userID string)
}

// payment is the withdrawal the use cases ask for a new order of userID.
func payment(userID string, amount int64, currency string) app.Withdrawal {
	id := uuid.NewString()
	return app.Withdrawal{UserID: userID, Amount: amount, Currency: currency, RequestID: order.PaymentRequestID(id), OrderID: id}
}

// RunPayments checks what the use cases need of billing: an order is paid
// at most once however often its payment is retried, at once or later; a
// refusal is an answer (declined, with a reason) and the final one for that
// order; an account exists for every user ever created, open or closed;
// an order's refund gives its price back once however often it is retried,
// on a closed account too, partial refunds add up, and never more than was
// paid: what billing refuses is app.ErrRefundRefused.
func RunPayments(t *testing.T, newBilling func(t *testing.T) Billing) {
	ctx := context.Background()
	// want fails unless withdrawing w is declined (or paid) without error.
	want := func(t *testing.T, b Billing, w app.Withdrawal, declined bool) {
		t.Helper()
		got, reason, err := b.Withdraw(ctx, w)
		switch {
		case err != nil:
			t.Fatalf("Withdraw(%d %s) = %v, want an answer", w.Amount, w.Currency, err)
		case got != declined:
			t.Fatalf("Withdraw(%d %s): declined = %v (%q), want %v", w.Amount, w.Currency, got, reason, declined)
		case declined && reason == "":
			t.Fatalf("Withdraw(%d %s) declined without a reason", w.Amount, w.Currency)
		}
	}
	t.Run("Retry_PaidOnce", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		b.Open(t, user, "EUR", 100)
		w := payment(user, 60, "EUR")
		want(t, b, w, false)
		want(t, b, w, false) // the retry gets the first answer and takes nothing
		want(t, b, payment(user, 41, "EUR"), true)
		want(t, b, payment(user, 40, "EUR"), false)
	})
	t.Run("ConcurrentRetries_PaidOnce", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		b.Open(t, user, "EUR", 100)
		w := payment(user, 60, "EUR")
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range cap(errs) {
			wg.Go(func() {
				declined, reason, err := b.Withdraw(ctx, w)
				if err != nil || declined {
					errs <- fmt.Errorf("declined=%v (%q), %v", declined, reason, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("a concurrent retry of one payment: %v, want paid", err)
		}
		want(t, b, payment(user, 41, "EUR"), true)
	})
	t.Run("Refused_Declined", func(t *testing.T) {
		for _, tt := range []struct {
			name     string
			arrange  func(t *testing.T, b Billing, user string)
			currency string
		}{
			{"no account", func(*testing.T, Billing, string) {}, "EUR"},
			{"closed account", func(t *testing.T, b Billing, user string) {
				b.Open(t, user, "EUR", 100)
				b.Close(t, user)
			}, "EUR"},
			{"insufficient funds", func(t *testing.T, b Billing, user string) { b.Open(t, user, "EUR", 10) }, "EUR"},
			{"other currency", func(t *testing.T, b Billing, user string) { b.Open(t, user, "EUR", 100) }, "USD"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				b, user := newBilling(t), uuid.NewString()
				tt.arrange(t, b, user)
				want(t, b, payment(user, 50, tt.currency), true)
			})
		}
	})
	t.Run("Refusal_IsFinal", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		b.Open(t, user, "EUR", 10)
		w := payment(user, 50, "EUR")
		want(t, b, w, true)
		b.Deposit(t, user, 100)
		want(t, b, w, true) // the first answer stands, though the money is there now
		want(t, b, payment(user, 50, "EUR"), false)
	})
	// refund asks for the rest of order w's payment under the order's key.
	refund := func(w app.Withdrawal) app.Refund {
		return app.Refund{UserID: w.UserID, OrderID: w.OrderID, RequestID: order.RefundRequestID(w.OrderID), Reason: "changed my mind"}
	}
	// wantBalance fails unless user's balance is exactly balance: a
	// payment of it goes through and then one of 1 is declined.
	wantBalance := func(t *testing.T, b Billing, user string, balance int64) {
		t.Helper()
		want(t, b, payment(user, balance, "EUR"), false)
		want(t, b, payment(user, 1, "EUR"), true)
	}
	wantRefunded := func(t *testing.T, b Billing, r app.Refund, amount int64) {
		t.Helper()
		if got, err := b.Refund(ctx, r); err != nil || got != amount {
			t.Fatalf("Refund of order %s = %d, %v; want %d", r.OrderID, got, err, amount)
		}
	}
	t.Run("Refund_OnceInFull", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		b.Open(t, user, "EUR", 100)
		w := payment(user, 60, "EUR")
		want(t, b, w, false)
		wantRefunded(t, b, refund(w), 60)
		wantRefunded(t, b, refund(w), 60) // the retry gets the first refund and gives nothing
		wantBalance(t, b, user, 100)      // as before the order, not more
	})
	t.Run("Refund_ConcurrentRetriesOnce", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		b.Open(t, user, "EUR", 100)
		w := payment(user, 60, "EUR")
		want(t, b, w, false)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range cap(errs) {
			wg.Go(func() {
				if got, err := b.Refund(ctx, refund(w)); err != nil || got != 60 {
					errs <- fmt.Errorf("refunded %d, %v", got, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("a concurrent retry of one refund: %v, want 60", err)
		}
		wantBalance(t, b, user, 100)
	})
	t.Run("Refund_NeverBeyondThePayment", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		b.Open(t, user, "EUR", 100)
		w := payment(user, 60, "EUR")
		want(t, b, w, false)
		wantRefunded(t, b, refund(w), 60)
		again := refund(w)
		again.RequestID += "/again"
		if got, err := b.Refund(ctx, again); !errors.Is(err, app.ErrRefundRefused) {
			t.Fatalf("a second refund under another key gave back %d, %v; want it refused for good", got, err)
		}
		unpaid := refund(payment(user, 10, "EUR"))
		if got, err := b.Refund(ctx, unpaid); !errors.Is(err, app.ErrRefundRefused) {
			t.Fatalf("a refund of an order never paid gave back %d, %v; want it refused for good", got, err)
		}
		wantBalance(t, b, user, 100)
	})
	t.Run("Refund_PartsAddUpToThePayment", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		b.Open(t, user, "EUR", 100)
		w := payment(user, 60, "EUR")
		want(t, b, w, false)
		part := func(n int, amount int64) app.Refund {
			r := refund(w)
			r.RequestID, r.Amount = order.PartialRefundRequestID(w.OrderID, n), amount
			return r
		}
		wantRefunded(t, b, part(1, 20), 20)
		wantRefunded(t, b, part(1, 20), 20) // the retry gives nothing more
		if got, err := b.Refund(ctx, part(1, 25)); !errors.Is(err, app.ErrRefundRefused) {
			t.Fatalf("the key with another amount gave back %d, %v; want it refused for good", got, err)
		}
		if got, err := b.Refund(ctx, part(2, 41)); !errors.Is(err, app.ErrRefundRefused) {
			t.Fatalf("41 of the 40 that remain gave back %d, %v; want it refused for good", got, err)
		}
		wantRefunded(t, b, part(3, 40), 40)
		wantBalance(t, b, user, 100)
	})
	t.Run("Refund_ClosedAccount", func(t *testing.T) {
		b, user := newBilling(t), uuid.NewString()
		b.Open(t, user, "EUR", 100)
		w := payment(user, 60, "EUR")
		want(t, b, w, false)
		b.Close(t, user)
		wantRefunded(t, b, refund(w), 60)
	})
	t.Run("HasAccount_EveryUserEverCreated", func(t *testing.T) {
		b := newBilling(t)
		open, closed := uuid.NewString(), uuid.NewString()
		b.Open(t, open, "EUR", 0)
		b.Open(t, closed, "EUR", 0)
		b.Close(t, closed)
		for user, exists := range map[string]bool{open: true, closed: true, uuid.NewString(): false} {
			if got, err := b.HasAccount(ctx, user); err != nil || got != exists {
				t.Errorf("HasAccount(%s) = %v, %v; want %v", user, got, err, exists)
			}
		}
	})
}

// Notifier is a notification service under test.
type Notifier struct {
	app.Letters
	// Stored returns the letters stored for userID, in any order; only
	// their user, address, subject, body and order are compared.
	Stored func(t *testing.T, userID string) []order.Letter
}

// RunLetters checks what the use cases need of the notification service:
// a letter is stored once per key however often and however concurrently
// it is sent, and a different letter under a used key counts as sent and
// leaves the first one as it was.
func RunLetters(t *testing.T, newNotifier func(t *testing.T) Notifier) {
	ctx := context.Background()
	letter := func(userID, body string) order.Letter {
		id := uuid.NewString()
		return order.Letter{
			UserID: userID, Email: "buyer@example.com", Subject: "Order " + id, Body: body,
			OrderID: id, RequestID: order.LetterRequestID(id),
		}
	}
	// stored fails unless the letters stored for userID are want.
	stored := func(t *testing.T, n Notifier, userID string, want ...order.Letter) {
		t.Helper()
		got := map[order.Letter]int{}
		for _, l := range n.Stored(t, userID) {
			got[returned(l)]++
		}
		for _, l := range want {
			if got[returned(l)] != 1 {
				t.Errorf("letter %q stored %d times, want once", l.Subject, got[returned(l)])
			}
			delete(got, returned(l))
		}
		for l, times := range got {
			t.Errorf("%d unexpected letters stored: %+v", times, l)
		}
	}
	send := func(t *testing.T, n Notifier, l order.Letter) {
		t.Helper()
		if err := n.Send(ctx, l); err != nil {
			t.Fatalf("Send(%q) = %v", l.Subject, err)
		}
	}
	t.Run("Resent_StoredOnce", func(t *testing.T) {
		n, user := newNotifier(t), uuid.NewString()
		a, b := letter(user, "paid"), letter(user, "declined")
		send(t, n, a)
		send(t, n, a)
		send(t, n, b)
		stored(t, n, user, a, b)
	})
	t.Run("ConcurrentSends_StoredOnce", func(t *testing.T) {
		n, user := newNotifier(t), uuid.NewString()
		l := letter(user, "paid")
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := n.Send(ctx, l); err != nil {
					t.Errorf("concurrent Send = %v", err)
				}
			})
		}
		wg.Wait()
		stored(t, n, user, l)
	})
	t.Run("OtherLetterUnderUsedKey_CountsAsSent", func(t *testing.T) {
		n, user := newNotifier(t), uuid.NewString()
		first := letter(user, "the first wording")
		later := first
		later.Body = "a later wording"
		send(t, n, first)
		send(t, n, later)
		stored(t, n, user, first)
	})
}

// returned is the part of a letter the notification service gives back.
func returned(l order.Letter) order.Letter {
	return order.Letter{UserID: l.UserID, Email: l.Email, Subject: l.Subject, Body: l.Body, OrderID: l.OrderID}
}
