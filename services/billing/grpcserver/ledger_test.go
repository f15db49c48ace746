package grpcserver_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/billing"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// allTransactions lists a ledger through the API, page by page, checking
// that it comes newest first and that no entry repeats.
func allTransactions(t *testing.T, c billingv1.BillingServiceClient, user string) []*billingv1.Transaction {
	t.Helper()
	var out []*billingv1.Transaction
	seen := map[string]bool{}
	token := ""
	for {
		resp, err := c.ListTransactions(context.Background(), &billingv1.ListTransactionsRequest{UserId: user, PageSize: 7, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range resp.GetTransactions() {
			if seen[tx.GetId()] {
				t.Fatalf("entry %s listed twice", tx.GetId())
			}
			seen[tx.GetId()] = true
			if n := len(out); n > 0 && tx.GetCreateTime().AsTime().After(out[n-1].GetCreateTime().AsTime()) {
				t.Fatalf("entry %s is newer than the one before it", tx.GetId())
			}
			out = append(out, tx)
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

var kindOf = map[billingv1.Transaction_Kind]billing.Kind{
	billingv1.Transaction_KIND_DEPOSIT:    billing.Deposit,
	billingv1.Transaction_KIND_WITHDRAWAL: billing.Withdrawal,
	billingv1.Transaction_KIND_REFUND:     billing.Refund,
}

// audit checks, through the API and behind it, that the balance equals the
// ledger sum, every balance_after follows from the entry before and none is
// negative. It returns the balance and the number of entries.
func audit(t *testing.T, c billingv1.BillingServiceClient, db *sqlx.DB, user string) (int64, int) {
	t.Helper()
	acct, err := c.GetAccount(context.Background(), &billingv1.GetAccountRequest{UserId: user})
	if err != nil {
		t.Fatal(err)
	}
	listed := allTransactions(t, c, user)
	ledger := make([]billing.Transaction, len(listed))
	for i, tx := range listed { // oldest first
		ledger[len(listed)-1-i] = billing.Transaction{ID: tx.GetId(), UserID: tx.GetUserId(), Kind: kindOf[tx.GetKind()],
			Amount: tx.GetAmount(), Currency: tx.GetCurrency(), BalanceAfter: tx.GetBalanceAfter(), RefundOf: tx.GetRefundOf()}
	}
	a := billing.Account{UserID: user, Balance: acct.GetBalance(), Currency: acct.GetCurrency()}
	if err := billing.VerifyLedger(a, ledger); err != nil {
		t.Fatalf("ledger of %s: %v", user, err)
	}
	var sum int64
	err = db.Get(&sum, `SELECT coalesce(sum(CASE kind WHEN 'withdrawal' THEN -amount ELSE amount END), 0)
		FROM transactions WHERE user_id = $1`, user)
	if err != nil || sum != acct.GetBalance() {
		t.Fatalf("SQL ledger sum = %d (%v), balance %d", sum, err, acct.GetBalance())
	}
	return acct.GetBalance(), len(listed)
}

func TestDepositWithdraw_ReturnAccountAndEntry(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 0)
	dep, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 250, Currency: "USD", RequestId: "d"})
	if err != nil {
		t.Fatal(err)
	}
	tx := dep.GetTransaction()
	if dep.GetAccount().GetBalance() != 250 || tx.GetKind() != billingv1.Transaction_KIND_DEPOSIT || tx.GetAmount() != 250 ||
		tx.GetBalanceAfter() != 250 || tx.GetCurrency() != "USD" || tx.GetRequestId() != "d" || tx.GetUserId() != user ||
		uuid.Validate(tx.GetId()) != nil || tx.GetCreateTime() == nil {
		t.Fatalf("Deposit = %v", dep)
	}
	order := uuid.NewString()
	wd, err := c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 100, RequestId: "w", OrderId: order})
	if err != nil {
		t.Fatal(err)
	}
	if wd.GetAccount().GetBalance() != 150 || wd.GetTransaction().GetKind() != billingv1.Transaction_KIND_WITHDRAWAL ||
		wd.GetTransaction().GetOrderId() != order || wd.GetTransaction().GetBalanceAfter() != 150 {
		t.Fatalf("Withdraw = %v", wd)
	}
	if balance, n := audit(t, c, db, user); balance != 150 || n != 2 {
		t.Fatalf("audit: balance %d, %d entries", balance, n)
	}
}

// A refused withdrawal is the key's answer for good: after a deposit that
// would cover it, the same request still answers the first refusal, word
// for word, and nothing is withdrawn.
func TestWithdraw_RefusedThenDeposit_RetryStillRefused(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 40)
	req := &billingv1.WithdrawRequest{UserId: user, Amount: 41, RequestId: "too-much"}
	_, first := c.Withdraw(ctx, req)
	wantRefusal(t, first, "INSUFFICIENT_FUNDS")
	if balance, n := audit(t, c, db, user); balance != 40 || n != 1 {
		t.Fatalf("audit after refusal: balance %d, %d entries; want 40, 1", balance, n)
	}
	if _, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 1, RequestId: "top-up"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := c.Withdraw(ctx, req)
		wantRefusal(t, err, "INSUFFICIENT_FUNDS")
		if resp != nil || status.Convert(err).Message() != status.Convert(first).Message() {
			t.Fatalf("retry = %v, %q; want the first message %q", resp, status.Convert(err).Message(), status.Convert(first).Message())
		}
	}
	if balance, n := audit(t, c, db, user); balance != 41 || n != 2 {
		t.Fatalf("audit after retries: balance %d, %d entries; want 41 (deposits only), 2", balance, n)
	}
	var withdrawals int
	if err := db.Get(&withdrawals, `SELECT count(*) FROM transactions WHERE user_id = $1 AND kind = 'withdrawal'`, user); err != nil || withdrawals != 0 {
		t.Fatalf("%d withdrawals in the ledger (%v), want 0", withdrawals, err)
	}
}

func TestMovements_SameRequestID_AppliedOnce(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 0)
	dreq := &billingv1.DepositRequest{UserId: user, Amount: 300, RequestId: "dep-1"}
	d1, err1 := c.Deposit(ctx, dreq)
	d2, err2 := c.Deposit(ctx, dreq)
	if err1 != nil || err2 != nil || !proto.Equal(d1.GetTransaction(), d2.GetTransaction()) || d2.GetAccount().GetBalance() != 300 {
		t.Fatalf("deposit twice: %v / %v, %v / %v", d1, d2, err1, err2)
	}
	wreq := &billingv1.WithdrawRequest{UserId: user, Amount: 120, RequestId: "wd-1"}
	w1, err1 := c.Withdraw(ctx, wreq)
	w2, err2 := c.Withdraw(ctx, wreq)
	if err1 != nil || err2 != nil || !proto.Equal(w1.GetTransaction(), w2.GetTransaction()) || w2.GetAccount().GetBalance() != 180 {
		t.Fatalf("withdraw twice: %v / %v, %v / %v", w1, w2, err1, err2)
	}
	// The same keys with other parameters are refused and change nothing.
	_, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 301, RequestId: "dep-1"})
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 121, RequestId: "wd-1"})
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 120, RequestId: "wd-1", Currency: "EUR"})
	wantCode(t, err, codes.AlreadyExists)
	_, err = c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 300, RequestId: "dep-1"})
	wantCode(t, err, codes.AlreadyExists)
	if balance, n := audit(t, c, db, user); balance != 180 || n != 2 {
		t.Fatalf("audit: balance %d, %d entries; want 180, 2", balance, n)
	}
}

func TestMovements_ConcurrentDuplicates_AppliedOnce(t *testing.T) {
	c, db := newClient(t)
	user := newAccount(t, c, 1000)
	const n = 20
	ids := make([][2]string, n)
	errs := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := c.Deposit(context.Background(), &billingv1.DepositRequest{UserId: user, Amount: 55, RequestId: "dup-d"})
			ids[i][0], errs[2*i] = resp.GetTransaction().GetId(), err
		})
		wg.Go(func() {
			resp, err := c.Withdraw(context.Background(), &billingv1.WithdrawRequest{UserId: user, Amount: 70, RequestId: "dup-w"})
			ids[i][1], errs[2*i+1] = resp.GetTransaction().GetId(), err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[2*i] != nil || errs[2*i+1] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: ids %v, errors %v %v; want ids %v", i, ids[i], errs[2*i], errs[2*i+1], ids[0])
		}
	}
	if balance, entries := audit(t, c, db, user); balance != 1000+55-70 || entries != 3 {
		t.Fatalf("audit: balance %d, %d entries; want %d, 3", balance, entries, 1000+55-70)
	}
}

func TestWithdraw_Concurrent_NeverOverdraws(t *testing.T) {
	c, db := newClient(t)
	user := newAccount(t, c, 1000)
	const n = 50
	codesSeen := make([]codes.Code, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := c.Withdraw(context.Background(), &billingv1.WithdrawRequest{UserId: user, Amount: 30, RequestId: fmt.Sprintf("w-%d", i)})
			codesSeen[i] = status.Code(err)
		})
	}
	wg.Wait()
	ok := len(slices.DeleteFunc(slices.Clone(codesSeen), func(c codes.Code) bool { return c != codes.OK }))
	refused := len(slices.DeleteFunc(slices.Clone(codesSeen), func(c codes.Code) bool { return c != codes.FailedPrecondition }))
	if ok != 33 || refused != 17 {
		t.Fatalf("%d succeeded, %d refused (codes %v); want 33 and 17", ok, refused, codesSeen)
	}
	if balance, entries := audit(t, c, db, user); balance != 10 || entries != 34 {
		t.Fatalf("audit: balance %d, %d entries; want 10, 34", balance, entries)
	}
	var negative int
	if err := db.Get(&negative, `SELECT count(*) FROM transactions WHERE balance_after < 0`); err != nil || negative != 0 {
		t.Fatalf("%d entries with a negative balance_after (%v)", negative, err)
	}
}

func TestListTransactions_AllPagesOnceNewestFirst(t *testing.T) {
	c, db := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 0)
	other := newAccount(t, c, 999) // must not show up
	var made []string
	for i := range 23 {
		var id string
		if i%4 == 3 {
			resp, err := c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 5, RequestId: fmt.Sprintf("w%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			id = resp.GetTransaction().GetId()
		} else {
			resp, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: int64(10 + i), RequestId: fmt.Sprintf("d%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			id = resp.GetTransaction().GetId()
		}
		made = append(made, id)
	}
	listed := allTransactions(t, c, user) // 4 pages of 7, 7, 7, 2
	var got []string
	for _, tx := range listed {
		got = append(got, tx.GetId())
	}
	slices.Reverse(made)
	if !slices.Equal(got, made) {
		t.Fatalf("listed %v, want %v", got, made)
	}
	first, err := c.ListTransactions(ctx, &billingv1.ListTransactionsRequest{UserId: user})
	if err != nil || len(first.GetTransactions()) != 23 || first.GetNextPageToken() != "" {
		t.Fatalf("default page: %d entries, token %q, %v; want all 23 and no token", len(first.GetTransactions()), first.GetNextPageToken(), err)
	}
	empty := newAccount(t, c, 0)
	if resp, err := c.ListTransactions(ctx, &billingv1.ListTransactionsRequest{UserId: empty}); err != nil || len(resp.GetTransactions()) != 0 {
		t.Fatalf("empty ledger: %v, %v", resp, err)
	}
	audit(t, c, db, user)
	audit(t, c, db, other)
}
