package grpcserver_test

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"github.com/kassa-dev/kassa/services/platform/pgtest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// newAccount opens a USD account holding balance and returns its user id.
func newAccount(t *testing.T, c billingv1.BillingServiceClient, balance int64) string {
	t.Helper()
	user := uuid.NewString()
	if _, err := c.CreateAccount(context.Background(), &billingv1.CreateAccountRequest{UserId: user}); err != nil {
		t.Fatal(err)
	}
	if balance > 0 {
		if _, err := c.Deposit(context.Background(), &billingv1.DepositRequest{UserId: user, Amount: balance, RequestId: "initial"}); err != nil {
			t.Fatal(err)
		}
	}
	return user
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %v (%v), want %v", got, err, want)
	}
}

// wantRefusal checks a FAILED_PRECONDITION with its ErrorInfo reason.
func wantRefusal(t *testing.T, err error, reason string) {
	t.Helper()
	wantCode(t, err, codes.FailedPrecondition)
	if got := grpcstatus.ReasonOf(err); got != reason {
		t.Fatalf("reason = %q (%v), want %q", got, err, reason)
	}
}

type badCase struct {
	name  string
	call  func(ctx context.Context) error
	code  codes.Code
	field string // named in the message of an INVALID_ARGUMENT
}

func runBad(t *testing.T, cases []badCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(context.Background())
			wantCode(t, err, tt.code)
			if tt.field != "" && !strings.Contains(status.Convert(err).Message(), tt.field) {
				t.Fatalf("message %q does not name %s", status.Convert(err).Message(), tt.field)
			}
		})
	}
}

func TestAccountRPCs_BadRequests(t *testing.T) {
	c, _ := newClient(t)
	user := newAccount(t, c, 0)
	unknown := uuid.NewString()
	create := func(r *billingv1.CreateAccountRequest) func(context.Context) error {
		return func(ctx context.Context) error { _, err := c.CreateAccount(ctx, r); return err }
	}
	get := func(id string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: id})
			return err
		}
	}
	closeAcct := func(id string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := c.CloseAccount(ctx, &billingv1.CloseAccountRequest{UserId: id})
			return err
		}
	}
	runBad(t, []badCase{
		{"create: no user_id", create(&billingv1.CreateAccountRequest{}), codes.InvalidArgument, "user_id"},
		{"create: malformed user_id", create(&billingv1.CreateAccountRequest{UserId: "user-1"}), codes.InvalidArgument, "user_id"},
		{"create: lower-case currency", create(&billingv1.CreateAccountRequest{UserId: unknown, Currency: "usd"}), codes.InvalidArgument, "currency"},
		{"create: long currency", create(&billingv1.CreateAccountRequest{UserId: unknown, Currency: "USDT"}), codes.InvalidArgument, "currency"},
		{"create: other currency than existing", create(&billingv1.CreateAccountRequest{UserId: user, Currency: "EUR"}), codes.AlreadyExists, ""},
		{"get: no user_id", get(""), codes.InvalidArgument, "user_id"},
		{"get: malformed user_id", get("not-a-uuid"), codes.InvalidArgument, "user_id"},
		{"get: uuid without dashes", get(strings.ReplaceAll(unknown, "-", "")), codes.InvalidArgument, "user_id"},
		{"get: unknown user", get(unknown), codes.NotFound, ""},
		{"close: malformed user_id", closeAcct("42"), codes.InvalidArgument, "user_id"},
		{"close: unknown user", closeAcct(unknown), codes.NotFound, ""},
	})
}

func TestMovementRPCs_BadRequests(t *testing.T) {
	c, _ := newClient(t)
	user := newAccount(t, c, 100)
	unknown := uuid.NewString()
	dep := func(edit func(r *billingv1.DepositRequest)) func(context.Context) error {
		r := &billingv1.DepositRequest{UserId: user, Amount: 10, RequestId: "bad-" + uuid.NewString()}
		edit(r)
		return func(ctx context.Context) error { _, err := c.Deposit(ctx, r); return err }
	}
	wd := func(edit func(r *billingv1.WithdrawRequest)) func(context.Context) error {
		r := &billingv1.WithdrawRequest{UserId: user, Amount: 10, RequestId: "bad-" + uuid.NewString()}
		edit(r)
		return func(ctx context.Context) error { _, err := c.Withdraw(ctx, r); return err }
	}
	runBad(t, []badCase{
		{"deposit: no user_id", dep(func(r *billingv1.DepositRequest) { r.UserId = "" }), codes.InvalidArgument, "user_id"},
		{"deposit: malformed user_id", dep(func(r *billingv1.DepositRequest) { r.UserId = "abc" }), codes.InvalidArgument, "user_id"},
		{"deposit: unknown user", dep(func(r *billingv1.DepositRequest) { r.UserId = unknown }), codes.NotFound, ""},
		{"deposit: zero amount", dep(func(r *billingv1.DepositRequest) { r.Amount = 0 }), codes.InvalidArgument, "amount"},
		{"deposit: negative amount", dep(func(r *billingv1.DepositRequest) { r.Amount = -10 }), codes.InvalidArgument, "amount"},
		{"deposit: MinInt64 amount", dep(func(r *billingv1.DepositRequest) { r.Amount = math.MinInt64 }), codes.InvalidArgument, "amount"},
		{"deposit: over 1e15", dep(func(r *billingv1.DepositRequest) { r.Amount = 1_000_000_000_000_001 }), codes.InvalidArgument, "amount"},
		{"deposit: MaxInt64 amount", dep(func(r *billingv1.DepositRequest) { r.Amount = math.MaxInt64 }), codes.InvalidArgument, "amount"},
		{"deposit: near MaxInt64", dep(func(r *billingv1.DepositRequest) { r.Amount = math.MaxInt64 - 100 }), codes.InvalidArgument, "amount"},
		{"deposit: no request_id", dep(func(r *billingv1.DepositRequest) { r.RequestId = "" }), codes.InvalidArgument, "request_id"},
		{"deposit: long request_id", dep(func(r *billingv1.DepositRequest) { r.RequestId = strings.Repeat("k", 129) }), codes.InvalidArgument, "request_id"},
		{"deposit: padded request_id", dep(func(r *billingv1.DepositRequest) { r.RequestId = " k" }), codes.InvalidArgument, "request_id"},
		{"deposit: bad currency", dep(func(r *billingv1.DepositRequest) { r.Currency = "dollars" }), codes.InvalidArgument, "currency"},
		{"deposit: other currency", dep(func(r *billingv1.DepositRequest) { r.Currency = "EUR" }), codes.FailedPrecondition, "EUR"},
		{"withdraw: no user_id", wd(func(r *billingv1.WithdrawRequest) { r.UserId = "" }), codes.InvalidArgument, "user_id"},
		{"withdraw: malformed user_id", wd(func(r *billingv1.WithdrawRequest) { r.UserId = "{" + unknown + "}" }), codes.InvalidArgument, "user_id"},
		{"withdraw: unknown user", wd(func(r *billingv1.WithdrawRequest) { r.UserId = unknown }), codes.NotFound, ""},
		{"withdraw: zero amount", wd(func(r *billingv1.WithdrawRequest) { r.Amount = 0 }), codes.InvalidArgument, "amount"},
		{"withdraw: negative amount", wd(func(r *billingv1.WithdrawRequest) { r.Amount = -1 }), codes.InvalidArgument, "amount"},
		{"withdraw: over 1e15", wd(func(r *billingv1.WithdrawRequest) { r.Amount = 1_000_000_000_000_001 }), codes.InvalidArgument, "amount"},
		{"withdraw: MaxInt64 amount", wd(func(r *billingv1.WithdrawRequest) { r.Amount = math.MaxInt64 }), codes.InvalidArgument, "amount"},
		{"withdraw: no request_id", wd(func(r *billingv1.WithdrawRequest) { r.RequestId = "" }), codes.InvalidArgument, "request_id"},
		{"withdraw: bad currency", wd(func(r *billingv1.WithdrawRequest) { r.Currency = "U$D" }), codes.InvalidArgument, "currency"},
		{"withdraw: other currency", wd(func(r *billingv1.WithdrawRequest) { r.Currency = "GBP" }), codes.FailedPrecondition, "GBP"},
		{"withdraw: malformed order_id", wd(func(r *billingv1.WithdrawRequest) { r.OrderId = "order-7" }), codes.InvalidArgument, "order_id"},
		{"withdraw: malformed order_id, no request_id", wd(func(r *billingv1.WithdrawRequest) { r.OrderId, r.RequestId = "order-7", "" }), codes.InvalidArgument, "order_id"},
		{"withdraw: order payment, padded request_id", wd(func(r *billingv1.WithdrawRequest) { r.OrderId, r.RequestId = uuid.NewString(), "k " }), codes.InvalidArgument, "request_id"},
		{"withdraw: order payment, long request_id", wd(func(r *billingv1.WithdrawRequest) {
			r.OrderId, r.RequestId = uuid.NewString(), strings.Repeat("k", 129)
		}), codes.InvalidArgument, "request_id"},
		{"withdraw: more than the balance", wd(func(r *billingv1.WithdrawRequest) { r.Amount = 101 }), codes.FailedPrecondition, "balance is 100"},
	})
	acct, err := c.GetAccount(context.Background(), &billingv1.GetAccountRequest{UserId: user})
	if err != nil || acct.GetBalance() != 100 {
		t.Fatalf("balance after bad requests = %d, %v; want 100", acct.GetBalance(), err)
	}
	if n := len(allTransactions(t, c, user)); n != 1 {
		t.Fatalf("ledger has %d entries after bad requests, want 1", n)
	}
}

func TestListTransactions_BadRequests(t *testing.T) {
	c, _ := newClient(t)
	user := newAccount(t, c, 100)
	list := func(r *billingv1.ListTransactionsRequest) func(context.Context) error {
		return func(ctx context.Context) error { _, err := c.ListTransactions(ctx, r); return err }
	}
	runBad(t, []badCase{
		{"no user_id", list(&billingv1.ListTransactionsRequest{}), codes.InvalidArgument, "user_id"},
		{"malformed user_id", list(&billingv1.ListTransactionsRequest{UserId: "x"}), codes.InvalidArgument, "user_id"},
		{"unknown user", list(&billingv1.ListTransactionsRequest{UserId: uuid.NewString()}), codes.NotFound, ""},
		{"negative page_size", list(&billingv1.ListTransactionsRequest{UserId: user, PageSize: -1}), codes.InvalidArgument, "page_size"},
		{"page_size over 1000", list(&billingv1.ListTransactionsRequest{UserId: user, PageSize: 1001}), codes.InvalidArgument, "page_size"},
		{"garbage page_token", list(&billingv1.ListTransactionsRequest{UserId: user, PageToken: "%%%"}), codes.InvalidArgument, "page_token"},
		{"page_token with a bad id", list(&billingv1.ListTransactionsRequest{UserId: user, PageToken: forged("x", time.Now())}), codes.InvalidArgument, "page_token"},
		{"page_token without time", list(&billingv1.ListTransactionsRequest{UserId: user, PageToken: forged(uuid.NewString(), time.Time{})}), codes.InvalidArgument, "page_token"},
	})
}

func forged(id string, at time.Time) string {
	return paging.Encode(paging.Cursor{Time: at, ID: id})
}

func TestCreateAccount_IdempotentPerUser(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	user := uuid.NewString()
	first, err := c.CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: user})
	if err != nil || first.GetCurrency() != "USD" || first.GetBalance() != 0 || first.GetCloseTime() != nil {
		t.Fatalf("CreateAccount = %v, %v; want an open, empty USD account", first, err)
	}
	for _, currency := range []string{"", "USD"} {
		again, err := c.CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: user, Currency: currency})
		if err != nil || again.GetCreateTime().AsTime() != first.GetCreateTime().AsTime() {
			t.Fatalf("CreateAccount again (currency %q) = %v, %v; want the first account", currency, again, err)
		}
	}
	eur, err := c.CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: uuid.NewString(), Currency: "EUR"})
	if err != nil || eur.GetCurrency() != "EUR" {
		t.Fatalf("EUR account = %v, %v", eur, err)
	}
	if again, err := c.CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: eur.GetUserId()}); err != nil || again.GetCurrency() != "EUR" {
		t.Fatalf("CreateAccount without currency on an EUR account = %v, %v; want it returned", again, err)
	}
}

func TestCloseAccount_RefusesMovementsKeepsReads(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	user := newAccount(t, c, 500)
	closed, err := c.CloseAccount(ctx, &billingv1.CloseAccountRequest{UserId: user})
	if err != nil || closed.GetCloseTime() == nil || closed.GetBalance() != 500 {
		t.Fatalf("CloseAccount = %v, %v", closed, err)
	}
	again, err := c.CloseAccount(ctx, &billingv1.CloseAccountRequest{UserId: user})
	if err != nil || again.GetCloseTime().AsTime() != closed.GetCloseTime().AsTime() {
		t.Fatalf("second CloseAccount = %v, %v; want the first close time", again, err)
	}
	_, err = c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 1, RequestId: "after-close"})
	wantRefusal(t, err, "ACCOUNT_CLOSED")
	_, err = c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 1, RequestId: "after-close-w"})
	wantRefusal(t, err, "ACCOUNT_CLOSED")
	acct, err := c.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: user})
	if err != nil || acct.GetBalance() != 500 || acct.GetCloseTime() == nil {
		t.Fatalf("GetAccount after close = %v, %v", acct, err)
	}
	if n := len(allTransactions(t, c, user)); n != 1 {
		t.Fatalf("ledger has %d entries after close, want 1", n)
	}
}

func TestDeposit_PastInt64_FailedPrecondition(t *testing.T) {
	c, db := newClient(t)
	user := newAccount(t, c, 0)
	// Reaching this balance through the API would take thousands of maximum
	// deposits; write it directly instead.
	if _, err := db.Exec(`UPDATE accounts SET balance = $2 WHERE user_id = $1`, user, int64(math.MaxInt64-5)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Deposit(context.Background(), &billingv1.DepositRequest{UserId: user, Amount: 6, RequestId: "overflow"})
	wantRefusal(t, err, "BALANCE_LIMIT")
	acct, err := c.GetAccount(context.Background(), &billingv1.GetAccountRequest{UserId: user})
	if err != nil || acct.GetBalance() != math.MaxInt64-5 {
		t.Fatalf("balance = %d, %v; want unchanged", acct.GetBalance(), err)
	}
}
