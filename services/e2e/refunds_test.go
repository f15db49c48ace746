package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	billingv1 "github.com/kassa-dev/kassa/gen/kassa/billing/v1"
	orderv1 "github.com/kassa-dev/kassa/gen/kassa/order/v1"
	"github.com/kassa-dev/kassa/services/platform/apperr/grpcstatus"
	"google.golang.org/protobuf/proto"
)

// Partial refunds as a REST client meets them, on the real services: bad
// amounts and a missing key are 400 with the field named, more than
// remains 409, the key with another amount 422, another user's order 404,
// a malformed id 400, each changing nothing; a partial refund keeps the
// order PAID with the running total and the cancel gives back the rest.
func TestPartialRefund_REST_RefusalsChangeNothing_ThenCancelRefundsTheRest(t *testing.T) {
	user, other := restFundedUser(t, 1000), restFundedUser(t, 1000)
	o := ok(t, "order", user.call(t, "POST", "/v1/users/"+user.id+"/orders", map[string]any{"price": 500},
		map[string]string{"Idempotency-Key": "order-" + randomID()}))
	id := str(o, "id")
	path := func(c *customer, id string) string { return "/v1/users/" + c.id + "/orders/" + id + ":cancel" }
	first := ok(t, "partial refund", user.call(t, "POST", path(user, id), map[string]any{"amount": "120"},
		map[string]string{"Idempotency-Key": "part-1"}))
	if str(first, "status") != "STATUS_PAID" || str(first, "refunded") != "120" || balanceOf(t, user) != "620" {
		t.Fatalf("partial refund = %v, balance %s; want PAID with 120 refunded, 620", first, balanceOf(t, user))
	}
	for _, tt := range []struct {
		name   string
		who    *customer
		id     string
		body   map[string]any
		key    string
		status int
		reason string
		field  string
	}{
		{"zero", user, id, map[string]any{"amount": 0}, "part-2", http.StatusBadRequest, "", "amount"},
		{"negative", user, id, map[string]any{"amount": "-1"}, "part-2", http.StatusBadRequest, "", "amount"},
		{"above the price", user, id, map[string]any{"amount": 501}, "part-2", http.StatusBadRequest, "", "amount"},
		{"without a key", user, id, map[string]any{"amount": 10}, "", http.StatusBadRequest, "", "request_id"},
		{"more than remains", user, id, map[string]any{"amount": 381}, "part-2", http.StatusConflict, "REFUND_EXCEEDS_REMAINING", ""},
		{"the key with another amount", user, id, map[string]any{"amount": 121}, "part-1", http.StatusUnprocessableEntity, "REQUEST_ID_REUSED", ""},
		{"another user's order", other, id, map[string]any{"amount": 10}, "part-2", http.StatusNotFound, "ORDER_NOT_FOUND", ""},
		{"a malformed id", user, "not-a-uuid", map[string]any{"amount": 10}, "part-2", http.StatusBadRequest, "", "id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, user)
			var header map[string]string
			if tt.key != "" {
				header = map[string]string{"Idempotency-Key": tt.key}
			}
			a := tt.who.call(t, "POST", path(tt.who, tt.id), tt.body, header)
			expect(t, tt.name, a, tt.status, tt.reason)
			if tt.field != "" && !slices.Contains(a.violatedFields(), tt.field) {
				t.Errorf("%s: fields %v, want %s named", a, a.violatedFields(), tt.field)
			}
			if after := snapshot(t, user); after != before {
				t.Errorf("the refused request changed:\n%s", changes(before, after))
			}
		})
	}
	again := ok(t, "the retry", user.call(t, "POST", path(user, id), map[string]any{"amount": 120}, map[string]string{"Idempotency-Key": "part-1"}))
	if str(again, "refunded") != "120" || balanceOf(t, user) != "620" {
		t.Errorf("the retry = %v, balance %s; want 120 refunded once", again, balanceOf(t, user))
	}
	c := ok(t, "cancel", user.call(t, "POST", path(user, id), map[string]any{"reason": "changed my mind"}, nil))
	if str(c, "status") != "STATUS_CANCELLED" || str(c, "refunded") != "500" || balanceOf(t, user) != "1000" {
		t.Errorf("cancel = %v, balance %s; want CANCELLED with 500 refunded, 1000", c, balanceOf(t, user))
	}
	letters := lettersOf(t, user)
	if n := len(where(letters, "subject", "Part of order "+id+" was refunded")); n != 1 {
		t.Errorf("%d partial refund letters, want 1: %v", n, letters)
	}
	if n := len(where(letters, "subject", "Order "+id+" was cancelled")); n != 1 {
		t.Errorf("%d cancellation letters, want 1: %v", n, letters)
	}
}

// Thirty concurrent cancels and partial refunds of one order with the real
// billing: its ledger holds refunds of exactly the paid price, one entry
// per refund the order recorded, the balance is back at the deposit and
// the order is CANCELLED with the price refunded.
func TestCancelAndPartialRefunds_Concurrent_BillingGivesThePriceBackOnce(t *testing.T) {
	u := newFundedUser(t, 1000)
	ctx := u.ctx()
	o, err := sys.orders.CreateOrder(ctx, &orderv1.CreateOrderRequest{UserId: u.id, Order: &orderv1.Order{Price: 500}, RequestId: "refund-race"})
	if err != nil || o.GetStatus() != orderv1.Order_STATUS_PAID {
		t.Fatalf("CreateOrder = %v, %v", o, err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := range cap(errs) {
		wg.Go(func() {
			req := &orderv1.CancelOrderRequest{UserId: u.id, Id: o.GetId(), RequestId: fmt.Sprintf("race-%d", i)}
			if i%3 != 0 {
				req.Amount = proto.Int64(35)
			}
			c, err := sys.orders.CancelOrder(ctx, req)
			switch {
			case req.Amount != nil && grpcstatus.ReasonOf(err) == "REFUND_EXCEEDS_REMAINING":
			case err != nil:
				errs <- fmt.Errorf("request %d: %w", i, err)
			case req.Amount == nil && c.GetStatus() != orderv1.Order_STATUS_CANCELLED:
				errs <- fmt.Errorf("cancel %d answered %v", i, c)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var withdrawal string
	var refunded int64
	var refunds int
	for _, tx := range allTransactions(t, u, u.id) {
		switch {
		case tx.GetKind() == billingv1.Transaction_KIND_WITHDRAWAL && tx.GetOrderId() == o.GetId():
			withdrawal = tx.GetId()
		case tx.GetKind() == billingv1.Transaction_KIND_REFUND:
			refunded += tx.GetAmount()
			refunds++
			if withdrawal != "" && tx.GetRefundOf() != withdrawal {
				t.Errorf("refund %s names %s, not the order's withdrawal %s", tx.GetId(), tx.GetRefundOf(), withdrawal)
			}
		}
	}
	acct, err := sys.billing.GetAccount(ctx, &billingv1.GetAccountRequest{UserId: u.id})
	if err != nil {
		t.Fatal(err)
	}
	got, err := sys.orders.GetOrder(ctx, &orderv1.GetOrderRequest{UserId: u.id, Id: o.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	if refunded != 500 || acct.GetBalance() != 1000 || got.GetStatus() != orderv1.Order_STATUS_CANCELLED || got.GetRefunded() != 500 {
		t.Errorf("billing refunded %d in %d entries, balance %d, order %v; want 500, 1000, CANCELLED with 500",
			refunded, refunds, acct.GetBalance(), got)
	}
	cancels, parts := 0, 0
	for _, l := range allLetters(t, u, u.id) {
		switch {
		case l.GetSubject() == "Order "+o.GetId()+" was cancelled":
			cancels++
		case strings.HasPrefix(l.GetSubject(), "Part of order "+o.GetId()):
			parts++
		}
	}
	if cancels != 1 || parts != refunds-1 {
		t.Errorf("%d cancellation and %d refund letters for %d refunds; want one, and one per other refund", cancels, parts, refunds)
	}
}
