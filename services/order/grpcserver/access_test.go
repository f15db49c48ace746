package grpcserver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/order/app"
	"github.com/kassa-dev/kassa/services/order/grpcserver"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/auth"
	"github.com/kassa-dev/kassa/services/platform/auth/authtest"
	"github.com/kassa-dev/kassa/services/platform/retry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var orderServices = []*grpc.ServiceDesc{&orderv1.OrderService_ServiceDesc, &orderv1.OrderAdminService_ServiceDesc}

func TestRules_EveryRPCHasARule(t *testing.T) {
	if err := auth.CheckRules(orderServices, grpcserver.Rules); err != nil {
		t.Fatal(err)
	}
}

// snapshot is everything a call to the order service could change: its
// tables and what the peers were asked to do.
type snapshot struct {
	Orders, PayAttempts, Pending           int
	Letters, LetterAttempts, ParkedLetters int
	Refunds, RefundAttempts, Reserved      int
	UserCalls, BillingCalls, LetterCalls   int
}

func (e *env) snapshot(t *testing.T) snapshot {
	t.Helper()
	var s snapshot
	if err := e.db.QueryRow(`SELECT count(*), coalesce(sum(pay_attempts), 0), count(*) FILTER (WHERE status = 'pending') FROM orders`).
		Scan(&s.Orders, &s.PayAttempts, &s.Pending); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(`SELECT count(*), coalesce(sum(attempts), 0), count(*) FILTER (WHERE parked_time IS NOT NULL) FROM order_letters`).
		Scan(&s.Letters, &s.LetterAttempts, &s.ParkedLetters); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(`SELECT count(*), coalesce(sum(attempts), 0), (SELECT coalesce(sum(refund_reserved), 0) FROM orders) FROM order_refunds`).
		Scan(&s.Refunds, &s.RefundAttempts, &s.Reserved); err != nil {
		t.Fatal(err)
	}
	s.UserCalls, s.BillingCalls, s.LetterCalls = e.users.Calls(), e.billing.Calls(), e.letters.Calls()
	return s
}

type caller struct {
	name  string
	token string // "" sends none
}

// callers are every kind of caller: none, each way a token is refused,
// another customer, both service identities, an admin, and the owner
// (last, because the owner's and the admin's calls may change state).
func callers(t *testing.T, e *env, owner string) []caller {
	out := []caller{}
	for _, bad := range e.iss.BadTokens(t, nil) {
		out = append(out, caller{"bad token: " + bad.Name, bad.Token})
	}
	return append(out,
		caller{"another customer", e.iss.Customer(t, authtest.NewUserID())},
		caller{"service user", e.iss.Service(t, "user")},
		caller{"service order", e.iss.Service(t, "order")},
		caller{"admin", e.iss.Admin(t, authtest.NewUserID())},
		caller{"owner", e.iss.Customer(t, owner)},
	)
}

// want is the answer of one cell: a code and, for NOT_FOUND, its reason.
type want struct {
	code   codes.Code
	reason string
}

var (
	ok        = want{codes.OK, ""}
	denied    = want{codes.PermissionDenied, auth.ReasonPermissionDenied}
	noOrder   = want{codes.NotFound, "ORDER_NOT_FOUND"}
	noUser    = want{codes.NotFound, "USER_NOT_FOUND"}
	nobodyYet = want{codes.Unauthenticated, ""}
)

// Every RPC × every kind of caller: the code of each cell, and nothing
// changed by a refused call. An RPC without a row fails the test.
func TestAccess_EveryRPCAndCaller(t *testing.T) {
	type call func(ctx context.Context, e *env, owner, orderID string, opt grpc.CallOption) error
	rows := map[string]struct {
		call call
		// by caller name; a bad or missing token is always
		// UNAUTHENTICATED.
		want map[string]want
	}{
		orderv1.OrderService_CreateOrder_FullMethodName: {
			call: func(ctx context.Context, e *env, owner, _ string, opt grpc.CallOption) error {
				_, err := e.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{UserId: owner, Order: &orderv1.Order{Price: 100}, RequestId: "new"}, opt)
				return err
			},
			want: map[string]want{"another customer": noUser, "service user": denied, "service order": denied, "admin": denied, "owner": ok},
		},
		orderv1.OrderService_GetOrder_FullMethodName: {
			call: func(ctx context.Context, e *env, owner, orderID string, opt grpc.CallOption) error {
				o, err := e.orders.GetOrder(ctx, &orderv1.GetOrderRequest{UserId: owner, Id: orderID}, opt)
				if err == nil && o.GetId() != orderID {
					t.Errorf("GetOrder returned order %s, want %s", o.GetId(), orderID)
				}
				return err
			},
			want: map[string]want{"another customer": noOrder, "service user": denied, "service order": denied, "admin": ok, "owner": ok},
		},
		orderv1.OrderService_ListOrders_FullMethodName: {
			call: func(ctx context.Context, e *env, owner, orderID string, opt grpc.CallOption) error {
				resp, err := e.orders.ListOrders(ctx, &orderv1.ListOrdersRequest{UserId: owner}, opt)
				if err == nil && (len(resp.GetOrders()) != 1 || resp.GetOrders()[0].GetId() != orderID) {
					t.Errorf("ListOrders = %v, want the owner's order %s", resp.GetOrders(), orderID)
				}
				return err
			},
			want: map[string]want{"another customer": noUser, "service user": denied, "service order": denied, "admin": ok, "owner": ok},
		},
		orderv1.OrderService_CancelOrder_FullMethodName: {
			call: func(ctx context.Context, e *env, owner, orderID string, opt grpc.CallOption) error {
				o, err := e.orders.CancelOrder(ctx, &orderv1.CancelOrderRequest{UserId: owner, Id: orderID}, opt)
				if err == nil && (o.GetId() != orderID || o.GetStatus() != orderv1.Order_STATUS_CANCELLED) {
					t.Errorf("CancelOrder = %v, want order %s cancelled", o, orderID)
				}
				return err
			},
			want: map[string]want{"another customer": noOrder, "service user": denied, "service order": denied, "admin": ok, "owner": ok},
		},
		orderv1.OrderAdminService_ListParked_FullMethodName: {
			call: func(ctx context.Context, e *env, _, orderID string, opt grpc.CallOption) error {
				resp, err := e.admin.ListParked(ctx, &orderv1.ListParkedRequest{}, opt)
				if err == nil && (len(resp.GetItems()) != 1 || resp.GetItems()[0].GetOrderId() != orderID) {
					t.Errorf("ListParked = %v, want the parked letter of %s", resp.GetItems(), orderID)
				}
				return err
			},
			want: map[string]want{"another customer": denied, "service user": denied, "service order": denied, "admin": ok, "owner": denied},
		},
		orderv1.OrderAdminService_RetryParked_FullMethodName: {
			call: func(ctx context.Context, e *env, _, orderID string, opt grpc.CallOption) error {
				resp, err := e.admin.RetryParked(ctx, &orderv1.RetryParkedRequest{OrderIds: []string{orderID}}, opt)
				if err == nil && resp.GetReleased() != 1 {
					t.Errorf("RetryParked released %d, want 1", resp.GetReleased())
				}
				return err
			},
			want: map[string]want{"another customer": denied, "service user": denied, "service order": denied, "admin": ok, "owner": denied},
		},
	}
	for _, d := range orderServices {
		for _, m := range d.Methods {
			if full := "/" + d.ServiceName + "/" + m.MethodName; rows[full].call == nil {
				t.Errorf("%s has no row in this table", full)
			}
		}
	}
	for method, row := range rows {
		t.Run(method, func(t *testing.T) {
			e, owner, orderID := parkedLetterEnv(t)
			for _, c := range callers(t, e, owner) {
				w, named := row.want[c.name]
				if !named {
					w = nobodyYet
				}
				var opt grpc.CallOption = grpc.EmptyCallOption{}
				if c.token != "" {
					opt = authtest.Bearer(c.token)
				}
				before := e.snapshot(t)
				err := row.call(context.Background(), e, owner, orderID, opt)
				if status.Code(err) != w.code || (w.reason != "" && grpcstatus.ReasonOf(err) != w.reason) {
					t.Errorf("%s: %v; want %v %s", c.name, err, w.code, w.reason)
				}
				if err != nil {
					if after := e.snapshot(t); after != before {
						t.Errorf("%s: refused call changed state:\nbefore %+v\nafter  %+v", c.name, before, after)
					}
				}
			}
		})
	}
}

// parkedLetterEnv is a service with one paid order of owner whose letter
// is parked (notification refused it until the cap), notification back up.
func parkedLetterEnv(t *testing.T) (*env, string, string) {
	t.Helper()
	e := newEnv(t, withConfig(func(c *app.Config) {
		c.Retry = retry.Policy{Base: time.Hour, Max: time.Hour, MaxAttempts: 1}
	}))
	owner := e.buyer(t, 1000)
	e.letters.SetDown(true)
	o := e.mustCreate(t, owner, 100, "first")
	for range 2 {
		e.passTime(t)
		if _, err := e.svc.Relay(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	e.letters.SetDown(false)
	if s := e.snapshot(t); s.ParkedLetters != 1 {
		t.Fatalf("setup: %d parked letters, want 1", s.ParkedLetters)
	}
	return e, owner, o.GetId()
}

// Every call the order service makes to its peers, from a request and
// from the background passes (no user present), carries its own service
// identity, never the customer's token.
func TestPeers_CalledAsServiceOrder(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	e.mustCreate(t, user, 100, "paid")
	e.billing.SetDown(true)
	e.letters.SetDown(true)
	if _, err := e.create(t, user, 100, "later"); status.Code(err) != codes.Unavailable {
		t.Fatalf("CreateOrder with billing down = %v, want Unavailable", err)
	}
	e.billing.SetDown(false)
	if rep, err := e.svc.Repair(context.Background()); err != nil || rep.Finished != 1 {
		t.Fatalf("Repair = %+v, %v; want 1 finished", rep, err)
	}
	e.letters.SetDown(false)
	e.passTime(t)
	if rep, err := e.svc.Relay(context.Background()); err != nil || rep.Sent != 1 {
		t.Fatalf("Relay = %+v, %v; want 1 sent", rep, err)
	}
	for name, who := range map[string][]string{
		"user": e.users.Callers(), "billing": e.billing.Callers(), "notification": e.letters.Callers(),
	} {
		if len(who) == 0 || slices.ContainsFunc(who, func(s string) bool { return s != "service:order" }) {
			t.Errorf("%s was called by %v, want only service:order", name, who)
		}
	}
}
