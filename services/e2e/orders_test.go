package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	userv1 "github.com/kassa-dev/kassa/gen/kassa/user/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Orders and direct withdrawals race for one account (the orders beyond
// the per-buyer bound retried as a client does): exactly the
// affordable number succeed, nothing is overdrawn, the balance equals its
// ledger, every paid order has one debit and every order one letter.
func TestOrdersAndWithdrawals_ConcurrentOnOneAccount_StayConsistent(t *testing.T) {
	const (
		deposit     = 1000
		price       = 100
		orders      = 20
		withdrawals = 10
	)
	u := newFundedUser(t, deposit)
	ctx := u.ctx()

	var (
		wg          sync.WaitGroup
		mu          sync.Mutex
		paid        = map[string]bool{}
		rejected    = map[string]bool{}
		withdrawn   int
		declined    int
		unexpected  []error
		recordError = func(err error) { mu.Lock(); unexpected = append(unexpected, err); mu.Unlock() }
	)
	for i := range orders {
		wg.Go(func() {
			o, err := createOrder(ctx, &orderv1.CreateOrderRequest{UserId: u.id, Order: &orderv1.Order{Price: price}, RequestId: fmt.Sprintf("race-order-%d", i)})
			if err != nil {
				recordError(fmt.Errorf("order %d: %w", i, err))
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch o.GetStatus() {
			case orderv1.Order_STATUS_PAID:
				paid[o.GetId()] = true
			case orderv1.Order_STATUS_REJECTED:
				rejected[o.GetId()] = true
			default:
				unexpected = append(unexpected, fmt.Errorf("order %d returned with status %v", i, o.GetStatus()))
			}
		})
	}
	for i := range withdrawals {
		wg.Go(func() {
			_, err := sys.billing.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: u.id, Amount: price, RequestId: fmt.Sprintf("race-withdraw-%d", i)})
			mu.Lock()
			defer mu.Unlock()
			switch status.Code(err) {
			case codes.OK:
				withdrawn++
			case codes.FailedPrecondition:
				declined++
			default:
				unexpected = append(unexpected, fmt.Errorf("withdraw %d: %w", i, err))
			}
		})
	}
	wg.Wait()
	for _, err := range unexpected {
		t.Error(err)
	}
	if got := len(paid) + withdrawn; got != deposit/price {
		t.Errorf("successful debits = %d paid orders + %d withdrawals = %d, want %d", len(paid), withdrawn, got, deposit/price)
	}
	if len(paid)+len(rejected) != orders || withdrawn+declined != withdrawals {
		t.Errorf("outcomes: %d paid, %d rejected, %d withdrawn, %d declined", len(paid), len(rejected), withdrawn, declined)
	}

	acct, err := sys.billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: u.id})
	if err != nil {
		t.Fatal(err)
	}
	if acct.GetBalance() != 0 {
		t.Errorf("balance = %d, want 0", acct.GetBalance())
	}
	var sum int64
	debitsPerOrder := map[string]int{}
	for _, tx := range allTransactions(t, u, u.id) {
		if tx.GetBalanceAfter() < 0 {
			t.Errorf("transaction %s left balance %d", tx.GetId(), tx.GetBalanceAfter())
		}
		switch tx.GetKind() {
		case billingv1.Transaction_KIND_DEPOSIT:
			sum += tx.GetAmount()
		case billingv1.Transaction_KIND_WITHDRAWAL:
			sum -= tx.GetAmount()
			if tx.GetOrderId() != "" {
				debitsPerOrder[tx.GetOrderId()]++
			}
		}
	}
	if sum != acct.GetBalance() {
		t.Errorf("ledger sum = %d, balance = %d", sum, acct.GetBalance())
	}
	for id := range paid {
		if debitsPerOrder[id] != 1 {
			t.Errorf("paid order %s has %d debits, want 1", id, debitsPerOrder[id])
		}
	}
	for id := range rejected {
		if debitsPerOrder[id] != 0 {
			t.Errorf("rejected order %s has %d debits, want 0", id, debitsPerOrder[id])
		}
	}

	lettersPerOrder := map[string]int{}
	for _, n := range allLetters(t, u, u.id) {
		lettersPerOrder[n.GetOrderId()]++
	}
	for _, o := range allOrders(t, u, u.id) {
		if o.GetStatus() == orderv1.Order_STATUS_PENDING {
			t.Errorf("order %s still pending", o.GetId())
		}
		if lettersPerOrder[o.GetId()] != 1 {
			t.Errorf("order %s (%v) has %d letters, want 1", o.GetId(), o.GetStatus(), lettersPerOrder[o.GetId()])
		}
	}
	if len(lettersPerOrder) != orders {
		t.Errorf("letters for %d orders, want %d", len(lettersPerOrder), orders)
	}
}

// A client that retries CreateOrder many times at once (and retries the
// refusals for overload too) still gets one order, one charge and one
// letter.
func TestCreateOrder_RetriedConcurrently_ChargesAndNotifiesOnce(t *testing.T) {
	u := newFundedUser(t, 500)
	ctx := u.ctx()
	ids := make([]string, 10)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			o, err := createOrder(ctx, &orderv1.CreateOrderRequest{UserId: u.id, Order: &orderv1.Order{Price: 300}, RequestId: "same-key"})
			if err != nil {
				t.Errorf("CreateOrder: %v", err)
				return
			}
			if o.GetStatus() != orderv1.Order_STATUS_PAID {
				t.Errorf("status = %v, want PAID", o.GetStatus())
			}
			ids[i] = o.GetId()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("retries returned different orders: %v", ids)
		}
	}
	acct, err := sys.billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: u.id})
	if err != nil || acct.GetBalance() != 200 {
		t.Fatalf("balance = %d, %v; want 200 (charged once)", acct.GetBalance(), err)
	}
	if n := len(allLetters(t, u, u.id)); n != 1 {
		t.Errorf("letters = %d, want 1", n)
	}
	if n := len(allOrders(t, u, u.id)); n != 1 {
		t.Errorf("orders = %d, want 1", n)
	}

	_, err = sys.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{UserId: u.id, Order: &orderv1.Order{Price: 301}, RequestId: "same-key"})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("same key, other price: %v, want AlreadyExists", err)
	}
}

func TestCreateUser_Retried_ReturnsSameUserWithOneAccount(t *testing.T) {
	ctx := context.Background()
	id := randomID()
	name := "retry-" + id
	req := &userv1.CreateUserRequest{User: &userv1.User{Username: name, Email: name + "@example.com", Password: testPassword(id)}, RequestId: "retry-" + id}
	first, err := sys.users.CreateUser(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := sys.users.CreateUser(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.GetId() != second.GetId() {
		t.Fatalf("retry created another user: %s vs %s", first.GetId(), second.GetId())
	}
	if first.GetPassword() != "" || second.GetPassword() != "" {
		t.Errorf("CreateUser returned the password")
	}
	u := &customer{id: first.GetId(), username: name, password: testPassword(id)}
	u.loginGRPC(t)
	acct, err := sys.billing.GetAccount(u.ctx(), &billingv1.GetAccountRequest{UserId: first.GetId()})
	if err != nil || acct.GetBalance() != 0 {
		t.Fatalf("account = %v, %v; want an empty account", acct, err)
	}
}

// Money history survives a deleted user, who can no longer order or be
// charged.
func TestDeleteUser_ClosesAccountKeepsHistory(t *testing.T) {
	u := newFundedUser(t, 700)
	ctx := u.ctx()
	if _, err := sys.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{UserId: u.id, Order: &orderv1.Order{Price: 200}, RequestId: "before-delete"}); err != nil {
		t.Fatal(err)
	}
	if _, err := sys.users.DeleteUser(ctx, &userv1.DeleteUserRequest{Id: u.id}); err != nil {
		t.Fatal(err)
	}
	// The user's access token is still unexpired: whatever it is refused
	// with, nothing is ordered or charged.
	_, err := sys.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{UserId: u.id, Order: &orderv1.Order{Price: 100}, RequestId: "after-delete"})
	if c := status.Code(err); c != codes.NotFound && c != codes.Unauthenticated {
		t.Errorf("order by deleted user: %v, want NotFound or Unauthenticated", err)
	}
	_, err = sys.billing.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: u.id, Amount: 100, RequestId: "after-delete"})
	if c := status.Code(err); c != codes.FailedPrecondition && c != codes.Unauthenticated {
		t.Errorf("withdraw from deleted user: %v, want FailedPrecondition or Unauthenticated", err)
	}
	// The history stays readable to an operator.
	a := admin(t)
	if n := len(allTransactions(t, a, u.id)); n != 2 {
		t.Errorf("ledger has %d entries after delete, want 2 (deposit, order)", n)
	}
	if n := len(allOrders(t, a, u.id)); n != 1 {
		t.Errorf("orders after delete = %d, want 1", n)
	}
	acct, err := sys.billing.GetAccount(a.ctx(), &billingv1.GetAccountRequest{UserId: u.id})
	if err != nil || acct.GetBalance() != 500 || acct.GetCloseTime() == nil {
		t.Errorf("account after delete = %v, %v; want closed with 500", acct, err)
	}
}
