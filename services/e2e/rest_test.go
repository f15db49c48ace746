package e2e

import (
	"testing"
)

// restFundedUser registers and logs in a user through the gateway and
// deposits amount as that user.
func restFundedUser(t *testing.T, amount int64) *customer {
	t.Helper()
	c := restCustomer(t, "rest-")
	ok(t, "deposit", c.call(t, "POST", "/v1/users/"+c.id+"/account:deposit", map[string]any{"amount": amount, "requestId": "deposit-" + c.username}, nil))
	return c
}

// restOrder places an order as c through the gateway and returns its
// status.
func restOrder(t *testing.T, c *customer, price int64) string {
	t.Helper()
	o := ok(t, "order", c.call(t, "POST", "/v1/users/"+c.id+"/orders", map[string]any{"price": price},
		map[string]string{"Idempotency-Key": "order-" + randomID()}))
	return str(o, "status")
}
