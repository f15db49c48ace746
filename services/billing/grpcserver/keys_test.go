package grpcserver_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// pay is the order service's withdrawal for order.
func pay(user, order string, amount int64) *billingv1.WithdrawRequest {
	return &billingv1.WithdrawRequest{UserId: user, Amount: amount, Currency: "USD", RequestId: "order/" + order, OrderId: order}
}

// paymentsOf counts the ledger entries that pay order, straight from the
// table.
func paymentsOf(t *testing.T, db *sqlx.DB, order string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM transactions WHERE order_id = $1`, order); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantReused(t *testing.T, err error) {
	t.Helper()
	wantCode(t, err, codes.AlreadyExists)
	if r := grpcstatus.ReasonOf(err); r != "REQUEST_ID_REUSED" {
		t.Fatalf("reason = %q (%v), want REQUEST_ID_REUSED", r, err)
	}
}

func TestWithdraw_RefusedKeyReusedWithOtherAmount_RequestIDReused(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 40)
	_, err := c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 50, RequestId: "w"})
	wantRefusal(t, err, "INSUFFICIENT_FUNDS")
	// Affordable, but the key is the refusal's.
	_, err = c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 30, RequestId: "w"})
	wantReused(t, err)
	_, err = c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 50, RequestId: "w"})
	wantReused(t, err)
	if balance, n := audit(t, c, db, user); balance != 40 || n != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 40, 1", balance, n)
	}
}

// The forgery of the issue: a client deposit under the order service's key
// for order X no longer blocks X's payment, which is keyed by the order.
func TestDeposit_ForgedOrderKey_DoesNotBlockOrderPayment(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 500)
	order := uuid.NewString()
	if _, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 1, RequestId: "order/" + order}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Withdraw(ctx, pay(user, order, 200))
	if err != nil {
		t.Fatalf("payment of the order = %v, want it applied", err)
	}
	if tx := resp.GetTransaction(); tx.GetOrderId() != order || tx.GetKind() != billingv1.Transaction_KIND_WITHDRAWAL ||
		tx.GetAmount() != 200 || resp.GetAccount().GetBalance() != 301 {
		t.Fatalf("payment = %v", resp)
	}
	if n := paymentsOf(t, db, order); n != 1 {
		t.Fatalf("%d withdrawals for the order, want 1", n)
	}
	if balance, n := audit(t, c, db, user); balance != 301 || n != 3 {
		t.Fatalf("audit: balance %d, %d entries; want 301, 3", balance, n)
	}
}

func TestWithdraw_OrderPaymentRetried_AppliedOnce(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 500)
	other := newAccount(t, c, 500)
	order := uuid.NewString()
	first, err := c.Withdraw(ctx, pay(user, order, 120))
	if err != nil {
		t.Fatal(err)
	}
	noKey := pay(user, order, 120)
	noKey.RequestId = "" // optional for an order's payment
	for _, req := range []*billingv1.WithdrawRequest{pay(user, order, 120), noKey} {
		again, err := c.Withdraw(ctx, req)
		if err != nil || !proto.Equal(again.GetTransaction(), first.GetTransaction()) || again.GetAccount().GetBalance() != 380 {
			t.Fatalf("retry (request_id %q) = %v, %v; want the first entry", req.GetRequestId(), again, err)
		}
	}
	for _, req := range []*billingv1.WithdrawRequest{pay(user, order, 121), pay(other, order, 120)} {
		_, err := c.Withdraw(ctx, req)
		wantReused(t, err)
	}
	if n := paymentsOf(t, db, order); n != 1 {
		t.Fatalf("%d withdrawals for the order, want 1", n)
	}
	if balance, n := audit(t, c, db, user); balance != 380 || n != 2 {
		t.Fatalf("audit: balance %d, %d entries; want 380, 2", balance, n)
	}
	if balance, n := audit(t, c, db, other); balance != 500 || n != 1 {
		t.Fatalf("audit of the other user: balance %d, %d entries; want 500, 1", balance, n)
	}
}

func TestWithdraw_OrderPaymentRefused_RetryAfterDepositStillRefused(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 10)
	order := uuid.NewString()
	_, first := c.Withdraw(ctx, pay(user, order, 100))
	wantRefusal(t, first, "INSUFFICIENT_FUNDS")
	if _, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 1000, RequestId: "funds"}); err != nil {
		t.Fatal(err)
	}
	otherKey := pay(user, order, 100)
	otherKey.RequestId = "another"
	for _, req := range []*billingv1.WithdrawRequest{pay(user, order, 100), otherKey} {
		_, err := c.Withdraw(ctx, req)
		wantRefusal(t, err, "INSUFFICIENT_FUNDS")
		if status.Convert(err).Message() != status.Convert(first).Message() {
			t.Fatalf("retry message %q, want %q", status.Convert(err).Message(), status.Convert(first).Message())
		}
	}
	if n := paymentsOf(t, db, order); n != 0 {
		t.Fatalf("%d withdrawals for the refused order, want 0", n)
	}
	if balance, n := audit(t, c, db, user); balance != 1010 || n != 2 {
		t.Fatalf("audit: balance %d, %d entries; want 1010, 2", balance, n)
	}
}

// Many retries of a refused key at once, after a deposit made it
// affordable: every one answers the refusal and nothing is applied.
func TestWithdraw_ConcurrentRetriesOfRefusedKey_AllRefused(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 0)
	req := &billingv1.WithdrawRequest{UserId: user, Amount: 70, RequestId: "refused"}
	_, first := c.Withdraw(ctx, req)
	wantRefusal(t, first, "INSUFFICIENT_FUNDS")
	if _, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 1000, RequestId: "funds"}); err != nil {
		t.Fatal(err)
	}
	const n = 30
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = c.Withdraw(context.Background(), req) })
	}
	wg.Wait()
	for i, err := range errs {
		if grpcstatus.ReasonOf(err) != "INSUFFICIENT_FUNDS" || status.Convert(err).Message() != status.Convert(first).Message() {
			t.Fatalf("retry %d = %v, want the first refusal", i, err)
		}
	}
	if balance, entries := audit(t, c, db, user); balance != 1000 || entries != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 1000, 1", balance, entries)
	}
}

// Many first tries of one unaffordable key at once: one refusal recorded,
// every call answers it.
func TestWithdraw_ConcurrentFirstTriesRefused_OneRefusal(t *testing.T) {
	c, db := newClient(t)
	user := newAccount(t, c, 5)
	const n = 30
	msgs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := c.Withdraw(context.Background(), &billingv1.WithdrawRequest{UserId: user, Amount: 6, RequestId: "k"})
			if grpcstatus.ReasonOf(err) == "INSUFFICIENT_FUNDS" {
				msgs[i] = status.Convert(err).Message()
			}
		})
	}
	wg.Wait()
	for i := range n {
		if msgs[i] == "" || msgs[i] != msgs[0] {
			t.Fatalf("call %d answered %q, want the refusal %q", i, msgs[i], msgs[0])
		}
	}
	var recorded int
	if err := db.Get(&recorded, `SELECT count(*) FROM refusals WHERE user_id = $1`, user); err != nil || recorded != 1 {
		t.Fatalf("%d refusals (%v), want 1", recorded, err)
	}
	if balance, entries := audit(t, c, db, user); balance != 5 || entries != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 5, 1", balance, entries)
	}
}

// Many payments of one order at once, under differing request_ids as
// retries from restarted order services could send: one entry, every
// call answers it.
func TestWithdraw_ConcurrentPaymentsOfOneOrder_OneEntry(t *testing.T) {
	c, db := newClient(t)
	user := newAccount(t, c, 1000)
	order := uuid.NewString()
	const n = 30
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := pay(user, order, 30)
			if i%3 == 1 {
				req.RequestId = fmt.Sprintf("retry-%d", i)
			}
			resp, err := c.Withdraw(context.Background(), req)
			ids[i], errs[i] = resp.GetTransaction().GetId(), err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("payment %d: entry %s, %v; want entry %s", i, ids[i], errs[i], ids[0])
		}
	}
	if got := paymentsOf(t, db, order); got != 1 {
		t.Fatalf("%d withdrawals for the order, want 1", got)
	}
	if balance, entries := audit(t, c, db, user); balance != 970 || entries != 2 {
		t.Fatalf("audit: balance %d, %d entries; want 970, 2", balance, entries)
	}
}
