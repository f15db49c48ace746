package e2e

import (
	"net/http"
	"testing"
)

// The idempotency rules as a REST client meets them: the key may come as
// the Idempotency-Key header or as a requestId in the body, on every
// route; a retry replays the first outcome; the same key for another
// request is refused with 422 and changes nothing.

func balanceOf(t *testing.T, c *customer) string {
	t.Helper()
	return str(ok(t, "GetAccount", c.call(t, "GET", "/v1/users/"+c.id+"/account", nil, nil)), "balance")
}

func transactionsOf(t *testing.T, c *customer) []map[string]any {
	t.Helper()
	return listOf(ok(t, "ListTransactions", c.call(t, "GET", "/v1/users/"+c.id+"/account/transactions?pageSize=1000", nil, nil)), "transactions")
}

func ordersOf(t *testing.T, c *customer) []map[string]any {
	t.Helper()
	return listOf(ok(t, "ListOrders", c.call(t, "GET", "/v1/users/"+c.id+"/orders?pageSize=1000", nil, nil)), "orders")
}

func lettersOf(t *testing.T, c *customer) []map[string]any {
	t.Helper()
	return listOf(ok(t, "ListNotifications", c.call(t, "GET", "/v1/users/"+c.id+"/notifications?pageSize=1000", nil, nil)), "notifications")
}

// Before the fix the gateway decoded the body into Order, whose request_id
// is output only: the body's requestId was dropped, each call got a fresh
// server key, and a retry was a second order and a second debit.
func TestCreateOrder_Retried_ChargesOnceAndRefusesOtherPrice(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(price string) (body any, header map[string]string)
	}{
		{"body requestId", func(price string) (any, map[string]string) {
			return map[string]any{"price": price, "requestId": "k1"}, nil
		}},
		{"Idempotency-Key header", func(price string) (any, map[string]string) {
			return map[string]any{"price": price}, map[string]string{"Idempotency-Key": "k1"}
		}},
		{"both, equal", func(price string) (any, map[string]string) {
			return map[string]any{"price": price, "requestId": "k1"}, map[string]string{"Idempotency-Key": "k1"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := restFundedUser(t, 1000)
			path := "/v1/users/" + user.id + "/orders"
			body, header := tc.send("100")
			first := ok(t, "first order", user.call(t, "POST", path, body, header))
			second := ok(t, "retried order", user.call(t, "POST", path, body, header))
			id := str(first, "id")
			if id == "" || str(second, "id") != id {
				t.Fatalf("retry answered order %q, first was %q", str(second, "id"), id)
			}
			if str(first, "status") != "STATUS_PAID" || str(second, "status") != "STATUS_PAID" {
				t.Fatalf("statuses %s, %s; want PAID twice", str(first, "status"), str(second, "status"))
			}
			if got := len(ordersOf(t, user)); got != 1 {
				t.Errorf("orders = %d, want 1", got)
			}
			debits := where(transactionsOf(t, user), "kind", "KIND_WITHDRAWAL")
			if len(debits) != 1 || str(debits[0], "orderId") != id || str(debits[0], "amount") != "100" {
				t.Errorf("debits = %v, want one of 100 for order %s", debits, id)
			}
			if got := balanceOf(t, user); got != "900" {
				t.Errorf("balance = %s, want 900 (charged once)", got)
			}
			if got := len(where(lettersOf(t, user), "orderId", id)); got != 1 {
				t.Errorf("letters for the order = %d, want 1", got)
			}

			before := snapshot(t, user)
			body, header = tc.send("200")
			expect(t, "same key, other price", user.call(t, "POST", path, body, header), http.StatusUnprocessableEntity, "REQUEST_ID_REUSED")
			if after := snapshot(t, user); after != before {
				t.Errorf("the refused order changed the user's state:\n%s", changes(before, after))
			}
		})
	}
}

func TestCreateOrder_HeaderAndBodyKeysDiffer_RefusedUnchanged(t *testing.T) {
	user := restFundedUser(t, 1000)
	before := snapshot(t, user)
	a := user.call(t, "POST", "/v1/users/"+user.id+"/orders", map[string]any{"price": "100", "requestId": "body-key"},
		map[string]string{"Idempotency-Key": "header-key"})
	expect(t, "header and body keys differ", a, http.StatusBadRequest, "")
	if after := snapshot(t, user); after != before {
		t.Errorf("the refused order changed the user's state:\n%s", changes(before, after))
	}
	// Neither key was taken by the refusal: each places a new order.
	for _, key := range []string{"body-key", "header-key"} {
		o := ok(t, "order with "+key, user.call(t, "POST", "/v1/users/"+user.id+"/orders", map[string]any{"price": "100", "requestId": key}, nil))
		if str(o, "status") != "STATUS_PAID" {
			t.Errorf("order with %s: %v", key, o)
		}
	}
	if got := balanceOf(t, user); got != "800" {
		t.Errorf("balance = %s, want 800", got)
	}
}

// Before the fix a refused withdrawal was not kept under its key: after a
// deposit the same key carried out the withdrawal the client had been told
// was refused.
func TestWithdraw_RefusedThenDeposit_StillRefused(t *testing.T) {
	user := restFundedUser(t, 100)
	withdraw := "/v1/users/" + user.id + "/account:withdraw"
	first := user.call(t, "POST", withdraw, map[string]any{"amount": "500", "requestId": "w1"}, nil)
	expect(t, "withdrawal beyond the balance", first, http.StatusBadRequest, "INSUFFICIENT_FUNDS")

	ok(t, "covering deposit", user.call(t, "POST", "/v1/users/"+user.id+"/account:deposit", map[string]any{"amount": "1000", "requestId": "d2"}, nil))
	before := snapshot(t, user)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		header map[string]string
	}{
		{"body key", map[string]any{"amount": "500", "requestId": "w1"}, nil},
		{"header key", map[string]any{"amount": "500"}, map[string]string{"Idempotency-Key": "w1"}},
	} {
		retry := user.call(t, "POST", withdraw, tc.body, tc.header)
		expect(t, "retry with "+tc.name, retry, http.StatusBadRequest, "INSUFFICIENT_FUNDS")
		if retry.message() != first.message() {
			t.Errorf("retry with %s answered %q, first answer was %q", tc.name, retry.message(), first.message())
		}
	}
	expect(t, "w1 with another amount", user.call(t, "POST", withdraw, map[string]any{"amount": "50", "requestId": "w1"}, nil),
		http.StatusUnprocessableEntity, "REQUEST_ID_REUSED")
	if after := snapshot(t, user); after != before {
		t.Errorf("retries changed the user's state:\n%s", changes(before, after))
	}
	if got := balanceOf(t, user); got != "1100" {
		t.Errorf("balance = %s, want 1100", got)
	}
	// A new key is a new attempt, which the deposit now covers.
	ok(t, "withdrawal with a new key", user.call(t, "POST", withdraw, map[string]any{"amount": "500", "requestId": "w2"}, nil))
	if got := balanceOf(t, user); got != "600" {
		t.Errorf("balance after the new withdrawal = %s, want 600", got)
	}
}

func TestDeposit_KeyReusedForOtherAmount_Refused422(t *testing.T) {
	user := restFundedUser(t, 1)
	deposit := "/v1/users/" + user.id + "/account:deposit"
	ok(t, "deposit", user.call(t, "POST", deposit, map[string]any{"amount": "300"}, map[string]string{"Idempotency-Key": "d1"}))
	before := snapshot(t, user)
	expect(t, "d1 with another amount", user.call(t, "POST", deposit, map[string]any{"amount": "301", "requestId": "d1"}, nil),
		http.StatusUnprocessableEntity, "REQUEST_ID_REUSED")
	expect(t, "header and body keys differ", user.call(t, "POST", deposit, map[string]any{"amount": "300", "requestId": "d1"}, map[string]string{"Idempotency-Key": "d9"}),
		http.StatusBadRequest, "")
	if after := snapshot(t, user); after != before {
		t.Errorf("refused deposits changed the user's state:\n%s", changes(before, after))
	}
}
