package grpcserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"github.com/kassa-dev/kassa/services/platform/paging"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// badField returns the field named by an INVALID_ARGUMENT's BadRequest
// detail.
func badField(err error) string {
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

func TestCreateOrder_BadInput_InvalidArgumentAndNothingHappens(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	long := strings.Repeat("k", 129)
	tests := []struct {
		name  string
		req   *orderv1.CreateOrderRequest
		field string
	}{
		{"no order", &orderv1.CreateOrderRequest{UserId: user}, "order.price"},
		{"zero price", &orderv1.CreateOrderRequest{UserId: user, Order: &orderv1.Order{Price: 0}}, "order.price"},
		{"negative price", &orderv1.CreateOrderRequest{UserId: user, Order: &orderv1.Order{Price: -5}}, "order.price"},
		{"price over 1e15", &orderv1.CreateOrderRequest{UserId: user, Order: &orderv1.Order{Price: 1_000_000_000_000_001}}, "order.price"},
		{"empty user_id", &orderv1.CreateOrderRequest{Order: &orderv1.Order{Price: 100}}, "user_id"},
		{"malformed user_id", &orderv1.CreateOrderRequest{UserId: "user-1", Order: &orderv1.Order{Price: 100}}, "user_id"},
		{"lower-case currency", &orderv1.CreateOrderRequest{UserId: user, Order: &orderv1.Order{Price: 100, Currency: "usd"}}, "order.currency"},
		{"long currency", &orderv1.CreateOrderRequest{UserId: user, Order: &orderv1.Order{Price: 100, Currency: "USDT"}}, "order.currency"},
		{"request_id too long", &orderv1.CreateOrderRequest{UserId: user, Order: &orderv1.Order{Price: 100}, RequestId: long}, "request_id"},
		{"request_id with spaces", &orderv1.CreateOrderRequest{UserId: user, Order: &orderv1.Order{Price: 100}, RequestId: " k "}, "request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.orders.CreateOrder(context.Background(), tt.req, e.as(t, user))
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("err = %v, want InvalidArgument", err)
			}
			if got := badField(err); got != tt.field {
				t.Errorf("field = %q, want %q", got, tt.field)
			}
		})
	}
	if n := e.rows(t); n != 0 {
		t.Errorf("%d orders stored, want 0", n)
	}
	if e.users.Calls()+e.billing.Calls()+e.letters.Calls() != 0 {
		t.Errorf("peers were called for invalid requests: users %d, billing %d, letters %d",
			e.users.Calls(), e.billing.Calls(), e.letters.Calls())
	}
}

// A malformed user id is nobody's, so even a customer asking with their
// own token gets INVALID_ARGUMENT for it rather than NOT_FOUND.
func TestGetOrder_BadInput_InvalidArgument(t *testing.T) {
	e := newEnv(t)
	user := uuid.NewString()
	tests := []struct {
		name string
		req  *orderv1.GetOrderRequest
	}{
		{"empty user_id", &orderv1.GetOrderRequest{Id: uuid.NewString()}},
		{"malformed user_id", &orderv1.GetOrderRequest{UserId: "nope", Id: uuid.NewString()}},
		{"empty id", &orderv1.GetOrderRequest{UserId: user}},
		{"malformed id", &orderv1.GetOrderRequest{UserId: user, Id: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.orders.GetOrder(context.Background(), tt.req, e.as(t, user)); status.Code(err) != codes.InvalidArgument {
				t.Errorf("err = %v, want InvalidArgument", err)
			}
		})
	}
}

func TestListOrders_BadInput_InvalidArgument(t *testing.T) {
	e := newEnv(t)
	user := uuid.NewString()
	forged := paging.Encode(paging.Cursor{ID: "not-a-uuid"})
	tests := []struct {
		name string
		req  *orderv1.ListOrdersRequest
	}{
		{"malformed user_id", &orderv1.ListOrdersRequest{UserId: "x"}},
		{"negative page_size", &orderv1.ListOrdersRequest{UserId: user, PageSize: -1}},
		{"page_size over 1000", &orderv1.ListOrdersRequest{UserId: user, PageSize: 1001}},
		{"garbage page_token", &orderv1.ListOrdersRequest{UserId: user, PageToken: "%%%"}},
		{"forged page_token", &orderv1.ListOrdersRequest{UserId: user, PageToken: forged}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.orders.ListOrders(context.Background(), tt.req, e.as(t, user)); status.Code(err) != codes.InvalidArgument {
				t.Errorf("err = %v, want InvalidArgument", err)
			}
		})
	}
}

func TestCreateOrder_UnknownUser_NotFoundAndNoOrder(t *testing.T) {
	e := newEnv(t)
	stranger := uuid.NewString()
	_, err := e.create(t, stranger, 100, "k1")
	if status.Code(err) != codes.NotFound {
		t.Fatalf("err = %v, want NotFound", err)
	}
	if !strings.Contains(status.Convert(err).Message(), "user "+stranger+" not found") {
		t.Errorf("message = %q, want it to name the user", status.Convert(err).Message())
	}
	if n := e.rows(t); n != 0 {
		t.Errorf("%d orders stored, want 0", n)
	}
	if e.billing.Calls() != 0 {
		t.Errorf("billing called %d times for an unknown user", e.billing.Calls())
	}
}

func TestCreateOrder_UserServiceDown_UnavailableAndNoOrder(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	e.users.SetDown(true)
	if _, err := e.create(t, user, 100, "k1"); status.Code(err) != codes.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	if n := e.rows(t); n != 0 {
		t.Errorf("%d orders stored, want 0", n)
	}
}

func TestCreateOrder_Affordable_PaidDebitedOnceWithHappyLetter(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 5000)
	o := e.mustCreate(t, user, 1234, "buy-1")

	if o.GetStatus() != orderv1.Order_STATUS_PAID || o.GetFailureReason() != "" {
		t.Fatalf("order = %v, want PAID without reason", o)
	}
	if o.GetUserId() != user || o.GetPrice() != 1234 || o.GetCurrency() != "USD" || o.GetRequestId() != "buy-1" {
		t.Errorf("order = %v, want the request's user, price, default currency and key", o)
	}
	if _, err := uuid.Parse(o.GetId()); err != nil {
		t.Errorf("id %q is not a UUID", o.GetId())
	}
	if got := e.billing.Balance(user); got != 5000-1234 {
		t.Errorf("balance = %d, want %d", got, 5000-1234)
	}
	debits := e.billing.Debits()
	if len(debits) != 1 || debits[0].OrderID != o.GetId() || debits[0].RequestID != "order/"+o.GetId() || debits[0].Amount != 1234 {
		t.Errorf("debits = %+v, want one of 1234 for the order under key order/<id>", debits)
	}
	letters := e.letters.Letters()
	if len(letters) != 1 {
		t.Fatalf("letters = %d, want 1", len(letters))
	}
	l := letters[0]
	if l.GetUserId() != user || l.GetEmail() != "buyer@example.com" || l.GetOrderId() != o.GetId() {
		t.Errorf("letter = %v, want it to the buyer about the order", l)
	}
	if !strings.Contains(l.GetSubject(), o.GetId()) || !strings.Contains(l.GetSubject(), "paid") {
		t.Errorf("subject = %q, want it to name the order as paid", l.GetSubject())
	}
	if !strings.Contains(l.GetBody(), o.GetId()) || !strings.Contains(l.GetBody(), "12.34 USD") {
		t.Errorf("body = %q, want the order id and 12.34 USD", l.GetBody())
	}
	if got := e.get(t, user, o.GetId()); got.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Errorf("GetOrder status = %v, want PAID", got.GetStatus())
	}
}

func TestCreateOrder_Unaffordable_RejectedBalanceKeptWithSadLetter(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 500)
	o := e.mustCreate(t, user, 1000, "buy-1")

	if o.GetStatus() != orderv1.Order_STATUS_REJECTED {
		t.Fatalf("status = %v, want REJECTED", o.GetStatus())
	}
	const reason = "insufficient funds: balance 500, withdrawal needs 1000"
	if o.GetFailureReason() != reason {
		t.Errorf("failure_reason = %q, want billing's %q", o.GetFailureReason(), reason)
	}
	if got := e.billing.Balance(user); got != 500 {
		t.Errorf("balance = %d, want 500 (unchanged)", got)
	}
	if n := len(e.billing.Debits()); n != 0 {
		t.Errorf("debits = %d, want 0", n)
	}
	letters := e.letters.LettersFor(o.GetId())
	if len(letters) != 1 {
		t.Fatalf("letters = %d, want 1", len(letters))
	}
	if !strings.Contains(letters[0].GetSubject(), "declined") || !strings.Contains(letters[0].GetBody(), reason) ||
		!strings.Contains(letters[0].GetBody(), "10.00 USD") {
		t.Errorf("letter = %q / %q, want a decline with the amount and reason", letters[0].GetSubject(), letters[0].GetBody())
	}
	if got := e.get(t, user, o.GetId()); got.GetFailureReason() != reason {
		t.Errorf("stored failure_reason = %q", got.GetFailureReason())
	}
}

func TestCreateOrder_BillingRefusesForGood_Rejected(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(e *env) string // returns the buyer
		price  int64
		cur    string
		reason string
	}{
		{"no account", func(e *env) string { return e.users.Add("a@example.com") }, 100, "", "account of user"},
		{"closed account", func(e *env) string { id := e.buyer(t, 1000); e.billing.Close(id); return id }, 100, "", "is closed"},
		{"other currency", func(e *env) string { return e.buyer(t, 1000) }, 100, "EUR", "currency mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			user := tt.setup(e)
			o, err := e.orders.CreateOrder(context.Background(), &orderv1.CreateOrderRequest{
				UserId: user, Order: &orderv1.Order{Price: tt.price, Currency: tt.cur}, RequestId: "k",
			}, e.as(t, user))
			if err != nil {
				t.Fatal(err)
			}
			if o.GetStatus() != orderv1.Order_STATUS_REJECTED || !strings.Contains(o.GetFailureReason(), tt.reason) {
				t.Errorf("order = %v, want REJECTED with a reason containing %q", o, tt.reason)
			}
			if n := len(e.letters.LettersFor(o.GetId())); n != 1 {
				t.Errorf("letters = %d, want 1", n)
			}
		})
	}
}

func TestCreateOrder_SameRequestIDTwice_OneOrderOneDebitOneLetter(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	first := e.mustCreate(t, user, 300, "same")
	second := e.mustCreate(t, user, 300, "same")
	if first.GetId() != second.GetId() || second.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Fatalf("retry returned %v, first was %v", second, first)
	}
	if got := e.billing.Balance(user); got != 700 {
		t.Errorf("balance = %d, want 700 (one debit)", got)
	}
	if n := len(e.letters.Letters()); n != 1 {
		t.Errorf("letters = %d, want 1", n)
	}
	if n := e.rows(t); n != 1 {
		t.Errorf("orders = %d, want 1", n)
	}
	// The finished order was returned without paying or writing again;
	// only the buyer's lookup, which precedes the insert that finds the
	// key, is repeated.
	if e.users.Calls() != 2 || e.billing.Calls() != 1 {
		t.Errorf("user calls %d, billing calls %d; want 2 and 1", e.users.Calls(), e.billing.Calls())
	}
}

func TestCreateOrder_SameRequestIDOtherTerms_AlreadyExists(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	e.mustCreate(t, user, 300, "same")
	for _, o := range []*orderv1.Order{{Price: 301}, {Price: 300, Currency: "EUR"}} {
		_, err := e.orders.CreateOrder(context.Background(), &orderv1.CreateOrderRequest{UserId: user, Order: o, RequestId: "same"}, e.as(t, user))
		if status.Code(err) != codes.AlreadyExists || grpcstatus.ReasonOf(err) != "REQUEST_ID_REUSED" {
			t.Errorf("%v: err = %v, want AlreadyExists REQUEST_ID_REUSED", o, err)
		}
	}
	// The explicit default currency is the same order.
	o, err := e.orders.CreateOrder(context.Background(), &orderv1.CreateOrderRequest{UserId: user, Order: &orderv1.Order{Price: 300, Currency: "USD"}, RequestId: "same"}, e.as(t, user))
	if err != nil || o.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Errorf("same order with explicit USD: %v, %v", o, err)
	}
	if got := e.billing.Balance(user); got != 700 {
		t.Errorf("balance = %d, want 700", got)
	}
}

func TestCreateOrder_SameKeyOtherUser_IsAnotherOrder(t *testing.T) {
	e := newEnv(t)
	a, b := e.buyer(t, 1000), e.buyer(t, 1000)
	oa, ob := e.mustCreate(t, a, 100, "k"), e.mustCreate(t, b, 200, "k")
	if oa.GetId() == ob.GetId() || e.billing.Balance(a) != 900 || e.billing.Balance(b) != 800 {
		t.Errorf("orders %s/%s, balances %d/%d", oa.GetId(), ob.GetId(), e.billing.Balance(a), e.billing.Balance(b))
	}
}

func TestCreateOrder_NoRequestID_EachCallIsANewOrder(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	first, second := e.mustCreate(t, user, 100, ""), e.mustCreate(t, user, 100, "")
	if first.GetId() == second.GetId() {
		t.Fatal("two calls without request_id returned one order")
	}
	if first.GetRequestId() == "" || first.GetRequestId() == second.GetRequestId() {
		t.Errorf("server-made keys %q and %q, want two distinct ones", first.GetRequestId(), second.GetRequestId())
	}
	if got := e.billing.Balance(user); got != 800 {
		t.Errorf("balance = %d, want 800", got)
	}
}

func TestGetOrder_OtherUsersOrder_NotFound(t *testing.T) {
	e := newEnv(t)
	owner, other := e.buyer(t, 1000), e.buyer(t, 1000)
	o := e.mustCreate(t, owner, 100, "k")
	tests := []struct {
		name string
		as   string
		req  *orderv1.GetOrderRequest
	}{
		{"the order under another user's path", other, &orderv1.GetOrderRequest{UserId: other, Id: o.GetId()}},
		{"another customer on the owner's path", other, &orderv1.GetOrderRequest{UserId: owner, Id: o.GetId()}},
		{"the owner, an order that does not exist", owner, &orderv1.GetOrderRequest{UserId: owner, Id: uuid.NewString()}},
	}
	for _, tt := range tests {
		_, err := e.orders.GetOrder(context.Background(), tt.req, e.as(t, tt.as))
		if status.Code(err) != codes.NotFound || grpcstatus.ReasonOf(err) != "ORDER_NOT_FOUND" {
			t.Errorf("%s: %v, want NotFound ORDER_NOT_FOUND", tt.name, err)
		}
	}
}

func TestListOrders_PagesNewestFirst(t *testing.T) {
	e := newEnv(t)
	user, other := e.buyer(t, 10_000), e.buyer(t, 10_000)
	var want []string
	for i := range 5 {
		want = append([]string{e.mustCreate(t, user, int64(100+i), "").GetId()}, want...)
	}
	e.mustCreate(t, other, 100, "")

	var got []string
	token := ""
	pages := 0
	for {
		resp, err := e.orders.ListOrders(context.Background(), &orderv1.ListOrdersRequest{UserId: user, PageSize: 2, PageToken: token}, e.as(t, user))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(resp.GetOrders()) > 2 {
			t.Fatalf("page of %d orders, want at most 2", len(resp.GetOrders()))
		}
		for _, o := range resp.GetOrders() {
			got = append(got, o.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %d pages %v, want 3 pages %v (newest first)", pages, got, want)
	}

	lonely := uuid.NewString()
	resp, err := e.orders.ListOrders(context.Background(), &orderv1.ListOrdersRequest{UserId: lonely}, e.as(t, lonely))
	if err != nil || len(resp.GetOrders()) != 0 || resp.GetNextPageToken() != "" {
		t.Errorf("user without orders: %v, %v; want an empty last page", resp, err)
	}
}

// A key sent in order.request_id (output-only in Order, but a gRPC client
// can set it) is the call's key: a retry is the first order, other terms
// with it are refused, and a second, different key in the same request is
// invalid.
func TestCreateOrder_KeyInOrderRequestID_HonouredOnce(t *testing.T) {
	e := newEnv(t)
	user := e.buyer(t, 1000)
	ctx := context.Background()
	inOrder := func(price int64, key, top string) (*orderv1.Order, error) {
		return e.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{
			UserId: user, Order: &orderv1.Order{Price: price, RequestId: key}, RequestId: top,
		}, e.as(t, user))
	}
	first, err := inOrder(300, "k1", "")
	if err != nil || first.GetRequestId() != "k1" || first.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Fatalf("first = %v, %v; want PAID under key k1", first, err)
	}
	tests := []struct {
		name     string
		price    int64
		key, top string
		code     codes.Code
		reason   string
	}{
		{"same key again", 300, "k1", "", codes.OK, ""},
		{"same key in both fields", 300, "k1", "k1", codes.OK, ""},
		{"same key at the top", 300, "", "k1", codes.OK, ""},
		{"same key, other price", 301, "k1", "", codes.AlreadyExists, "REQUEST_ID_REUSED"},
		{"two different keys", 300, "k2", "k1", codes.InvalidArgument, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := inOrder(tt.price, tt.key, tt.top)
			if status.Code(err) != tt.code || grpcstatus.ReasonOf(err) != tt.reason {
				t.Fatalf("err = %v, want %v %q", err, tt.code, tt.reason)
			}
			if err == nil && o.GetId() != first.GetId() {
				t.Errorf("order %s, want the first order %s", o.GetId(), first.GetId())
			}
			if tt.code == codes.InvalidArgument && badField(err) != "request_id" {
				t.Errorf("field = %q, want request_id", badField(err))
			}
		})
	}
	if e.rows(t) != 1 || e.billing.Balance(user) != 700 {
		t.Errorf("orders %d, balance %d; want 1 order and one debit (700)", e.rows(t), e.billing.Balance(user))
	}
}
