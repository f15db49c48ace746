package grpcserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	"github.com/kassa-dev/kassa/services/billing/grpcserver"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestRules_CoverEveryMethod(t *testing.T) {
	if err := auth.CheckRules([]*grpc.ServiceDesc{&billingv1.BillingService_ServiceDesc}, grpcserver.Rules); err != nil {
		t.Fatal(err)
	}
}

// Who calls, besides the bad tokens every row refuses.
type caller string

const (
	stranger     caller = "another customer"
	owner        caller = "the owner"
	admin        caller = "admin"
	userSvc      caller = "service user"
	orderSvc     caller = "service order"
	notification caller = "service notification" // reads whether an account exists
)

var callersInOrder = []caller{stranger, owner, admin, userSvc, orderSvc, notification}

// accessRow is one RPC (or one shape of it) against the owner's account.
type accessRow struct {
	name   string
	method string
	// noAccount: the owner has no account yet (the call would open it).
	noAccount bool
	// paid: the owner's account has paid paidOrder(owner), so there is a
	// withdrawal to refund.
	paid bool
	// writes: an accepted call changes the database, a refused one never.
	writes bool
	call   func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error
	want   map[caller]codes.Code
}

// Readers of one's own money: the owner and admins; another customer is
// told the account does not exist; no service needs them.
var ownMoney = map[caller]codes.Code{
	stranger: codes.NotFound, owner: codes.OK, admin: codes.OK,
	userSvc: codes.PermissionDenied, orderSvc: codes.PermissionDenied, notification: codes.PermissionDenied,
}

// The account itself: also the order and notification services, which
// ask whether a user exists.
var accountRead = map[caller]codes.Code{
	stranger: codes.NotFound, owner: codes.OK, admin: codes.OK,
	userSvc: codes.PermissionDenied, orderSvc: codes.OK, notification: codes.OK,
}

// Movers of one's own money: the owner only. An admin reads any account
// but moves no one else's money.
var ownMoneyMoved = map[caller]codes.Code{
	stranger: codes.NotFound, owner: codes.OK, admin: codes.PermissionDenied,
	userSvc: codes.PermissionDenied, orderSvc: codes.PermissionDenied, notification: codes.PermissionDenied,
}

var onlyUserService = map[caller]codes.Code{
	stranger: codes.PermissionDenied, owner: codes.PermissionDenied, admin: codes.PermissionDenied,
	userSvc: codes.OK, orderSvc: codes.PermissionDenied, notification: codes.PermissionDenied,
}

var onlyOrderService = map[caller]codes.Code{
	stranger: codes.PermissionDenied, owner: codes.PermissionDenied, admin: codes.PermissionDenied,
	userSvc: codes.PermissionDenied, orderSvc: codes.OK, notification: codes.PermissionDenied,
}

// accessRows is the access table of the billing API: every RPC has at
// least one row (TestAccess_EveryRPCHasARow).
var accessRows = []accessRow{
	{name: "CreateAccount", method: billingv1.BillingService_CreateAccount_FullMethodName, noAccount: true, writes: true,
		call: func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error {
			_, err := c.CreateAccount(ctx, &billingv1.CreateAccountRequest{UserId: user}, opts...)
			return err
		}, want: onlyUserService},
	{name: "CloseAccount", method: billingv1.BillingService_CloseAccount_FullMethodName, writes: true,
		call: func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error {
			_, err := c.CloseAccount(ctx, &billingv1.CloseAccountRequest{UserId: user}, opts...)
			return err
		}, want: onlyUserService},
	{name: "GetAccount", method: billingv1.BillingService_GetAccount_FullMethodName,
		call: func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error {
			_, err := c.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: user}, opts...)
			return err
		}, want: accountRead},
	{name: "ListTransactions", method: billingv1.BillingService_ListTransactions_FullMethodName,
		call: func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error {
			_, err := c.ListTransactions(ctx, &billingv1.ListTransactionsRequest{UserId: user}, opts...)
			return err
		}, want: ownMoney},
	{name: "Deposit", method: billingv1.BillingService_Deposit_FullMethodName, writes: true,
		call: func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error {
			_, err := c.Deposit(ctx, &billingv1.DepositRequest{UserId: user, Amount: 10, RequestId: uuid.NewString()}, opts...)
			return err
		}, want: ownMoneyMoved},
	{name: "Withdraw", method: billingv1.BillingService_Withdraw_FullMethodName, writes: true,
		call: func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error {
			_, err := c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 10, RequestId: uuid.NewString()}, opts...)
			return err
		}, want: ownMoneyMoved},
	{name: "Withdraw paying an order", method: billingv1.BillingService_Withdraw_FullMethodName, writes: true,
		call: func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error {
			order := uuid.NewString()
			_, err := c.Withdraw(ctx, &billingv1.WithdrawRequest{UserId: user, Amount: 10, RequestId: "order/" + order, OrderId: order}, opts...)
			return err
		}, want: onlyOrderService},
	// Refunds are internal: the order service gives back what an order
	// paid; no customer or admin moves money that way.
	{name: "Refund", method: billingv1.BillingService_Refund_FullMethodName, paid: true, writes: true,
		call: func(ctx context.Context, c billingv1.BillingServiceClient, user string, opts ...grpc.CallOption) error {
			_, err := c.Refund(ctx, &billingv1.RefundRequest{UserId: user, Original: &billingv1.RefundRequest_OrderId{OrderId: paidOrder(user)},
				Amount: 5, RequestId: uuid.NewString()}, opts...)
			return err
		}, want: onlyOrderService},
}

// paidOrder is the order a paid owner's account paid: derived from the
// owner, so a row's call can name it without being told.
func paidOrder(user string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(user)).String()
}

func TestAccess_EveryRPCHasARow(t *testing.T) {
	rowed := map[string]bool{}
	for _, r := range accessRows {
		rowed[r.method] = true
		for _, c := range callersInOrder {
			if _, ok := r.want[c]; !ok {
				t.Errorf("row %s has no cell for %s", r.name, c)
			}
		}
	}
	for _, m := range billingv1.BillingService_ServiceDesc.Methods {
		full := "/" + billingv1.BillingService_ServiceDesc.ServiceName + "/" + m.MethodName
		if !rowed[full] {
			t.Errorf("%s has no row in the access table", full)
		}
	}
}

// Every RPC × every caller: the answer's code, and a refused call changes
// nothing (accounts, ledger, refusals) while an accepted write does.
func TestAccess_EveryRPCByEveryCaller(t *testing.T) {
	e := serve(t)
	setup := e.asCallers(t)
	ctx := context.Background()
	tokens := map[caller]func(user string) string{
		stranger:     func(string) string { return e.iss.Customer(t, uuid.NewString()) },
		owner:        func(user string) string { return e.iss.Customer(t, user) },
		admin:        func(string) string { return e.iss.Admin(t, uuid.NewString()) },
		userSvc:      func(string) string { return e.iss.Service(t, "user") },
		orderSvc:     func(string) string { return e.iss.Service(t, "order") },
		notification: func(string) string { return e.iss.Service(t, "notification") },
	}
	// A fresh owner per cell, so one cell's accepted call cannot decide
	// another's answer.
	newOwner := func(t *testing.T, r accessRow) string {
		t.Helper()
		user := uuid.NewString()
		if !r.noAccount {
			user = newAccount(t, setup, 100)
		}
		if r.paid {
			if _, err := setup.Withdraw(ctx, pay(user, paidOrder(user), 10)); err != nil {
				t.Fatal(err)
			}
		}
		return user
	}
	for _, r := range accessRows {
		for _, bad := range e.iss.BadTokens(t, nil) {
			t.Run(r.name+"/"+bad.Name, func(t *testing.T) {
				user := newOwner(t, r)
				var opts []grpc.CallOption
				if bad.Token != "" {
					opts = append(opts, authtest.Bearer(bad.Token))
				}
				before := snapshot(t, e)
				err := r.call(ctx, e.raw, user, opts...)
				wantCode(t, err, codes.Unauthenticated)
				if after := snapshot(t, e); after != before {
					t.Fatalf("a refused call changed the database:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
		for _, c := range callersInOrder {
			want := r.want[c]
			t.Run(r.name+"/"+string(c), func(t *testing.T) {
				user := newOwner(t, r)
				before := snapshot(t, e)
				err := r.call(ctx, e.raw, user, authtest.Bearer(tokens[c](user)))
				wantCode(t, err, want)
				changed := snapshot(t, e) != before
				switch {
				case want != codes.OK && changed:
					t.Fatal("a refused call changed the database")
				case want == codes.OK && changed != r.writes:
					t.Fatalf("accepted call: database changed = %v, want %v", changed, r.writes)
				case want == codes.PermissionDenied && grpcstatus.ReasonOf(err) != auth.ReasonPermissionDenied:
					t.Fatalf("reason = %q, want %s", grpcstatus.ReasonOf(err), auth.ReasonPermissionDenied)
				}
				if want == codes.NotFound {
					wantLikeMissing(t, e, r, err, user)
				}
			})
		}
	}
}

// wantLikeMissing checks that err, another customer's answer for user's
// account, reads exactly like a customer's answer for their own account
// when they have none: code, reason and message (the user id aside).
func wantLikeMissing(t *testing.T, e *billingEnv, r accessRow, err error, user string) {
	t.Helper()
	lonely := uuid.NewString() // a customer without an account
	missing := r.call(context.Background(), e.raw, lonely, authtest.Bearer(e.iss.Customer(t, lonely)))
	got, want := status.Convert(err), status.Convert(missing)
	if got.Code() != want.Code() || grpcstatus.ReasonOf(err) != grpcstatus.ReasonOf(missing) ||
		strings.ReplaceAll(got.Message(), user, "<id>") != strings.ReplaceAll(want.Message(), lonely, "<id>") {
		t.Fatalf("another customer's account answers %v (%s), a missing one %v (%s)",
			err, grpcstatus.ReasonOf(err), missing, grpcstatus.ReasonOf(missing))
	}
}

// snapshot is the billing database's whole state: every account row and
// the size of the append-only ledger and refusals.
func snapshot(t *testing.T, e *billingEnv) string {
	t.Helper()
	var s string
	err := e.db.Get(&s, `SELECT
		(SELECT coalesce(string_agg(a::text, ';' ORDER BY a.user_id), '') FROM accounts a)
		|| ' transactions=' || (SELECT count(*) FROM transactions)
		|| ' refusals=' || (SELECT count(*) FROM refusals)`)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Only the order service sets order_id, and it sets it on every
// withdrawal. The check comes before the request is read, so even a
// malformed order_id from a customer is a refusal, not a bad request.
func TestWithdraw_OrderIDByAnyoneButTheOrderService_PermissionDenied(t *testing.T) {
	e := serve(t)
	c := e.asCallers(t)
	user := newAccount(t, c, 100)
	order := uuid.NewString()
	for _, tt := range []struct {
		name    string
		token   string
		orderID string
		want    codes.Code
	}{
		{"owner pays an order", e.iss.Customer(t, user), order, codes.PermissionDenied},
		{"owner, malformed order_id", e.iss.Customer(t, user), "order-7", codes.PermissionDenied},
		{"admin pays an order", e.iss.Admin(t, uuid.NewString()), order, codes.PermissionDenied},
		{"order service without order_id", e.iss.Service(t, "order"), "", codes.PermissionDenied},
		{"order service, malformed order_id", e.iss.Service(t, "order"), "order-7", codes.InvalidArgument},
		{"order service pays the order", e.iss.Service(t, "order"), order, codes.OK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, e)
			_, err := e.raw.Withdraw(context.Background(), &billingv1.WithdrawRequest{
				UserId: user, Amount: 30, RequestId: "w-" + tt.name, OrderId: tt.orderID,
			}, authtest.Bearer(tt.token))
			wantCode(t, err, tt.want)
			if tt.want != codes.OK && snapshot(t, e) != before {
				t.Fatal("a refused withdrawal changed the database")
			}
			if tt.want == codes.PermissionDenied && grpcstatus.ReasonOf(err) != auth.ReasonPermissionDenied {
				t.Fatalf("reason = %q, want %s", grpcstatus.ReasonOf(err), auth.ReasonPermissionDenied)
			}
		})
	}
	if balance, n := audit(t, c, e.db, user); balance != 70 || n != 2 || paymentsOf(t, e.db, order) != 1 {
		t.Fatalf("audit: balance %d, %d entries; want 70, 2 with one payment of the order", balance, n)
	}
}

// Ownership is decided on the canonical id: a customer spelling their own
// id in upper case reaches their account.
func TestGetAccount_OwnerSpellsIDInUpperCase_Served(t *testing.T) {
	e := serve(t)
	user := newAccount(t, e.asCallers(t), 25)
	acct, err := e.raw.GetAccount(context.Background(), &billingv1.GetAccountRequest{UserId: strings.ToUpper(user)},
		authtest.Bearer(e.iss.Customer(t, user)))
	if err != nil || acct.GetUserId() != user || acct.GetBalance() != 25 {
		t.Fatalf("GetAccount(upper case) = %v, %v; want the owner's account", acct, err)
	}
}
