package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kassa-dev/kassa/dev/stack"
)

// perUserRoutes is what an admin gets on every route of http.yaml under
// /v1/users/{user_id} (or {id}) for a user id that never existed: 404
// wherever the answer depends on the user, and 403 where an admin may not
// act for anyone (moving money, ordering), which tells nothing about the
// user. An admin may cancel an order, and a missing one is 404. TestUnknownUser_EveryPerUserRoute fails when http.yaml gains a
// per-user route this table lacks.
var perUserRoutes = map[string]int{
	"GET /v1/users/{id}":                           http.StatusNotFound,
	"PATCH /v1/users/{user.id}":                    http.StatusNotFound,
	"DELETE /v1/users/{id}":                        http.StatusNotFound,
	"GET /v1/users/{user_id}/account":              http.StatusNotFound,
	"GET /v1/users/{user_id}/account/transactions": http.StatusNotFound,
	"POST /v1/users/{user_id}/account:deposit":     http.StatusForbidden,
	"POST /v1/users/{user_id}/account:withdraw":    http.StatusForbidden,
	"POST /v1/users/{user_id}/orders":              http.StatusForbidden,
	"GET /v1/users/{user_id}/orders":               http.StatusNotFound,
	"GET /v1/users/{user_id}/orders/{id}":          http.StatusNotFound,
	"POST /v1/users/{user_id}/orders/{id}:cancel":  http.StatusNotFound,
	"GET /v1/users/{user_id}/notifications":        http.StatusNotFound,
	"GET /v1/users/{user_id}/notifications/{id}":   http.StatusNotFound,
}

// bodyOf is a valid body for a per-user route's request, so only the
// user's existence (or the admin's rights) decides the answer.
func bodyOf(route string) any {
	switch {
	case strings.HasPrefix(route, "PATCH"):
		return map[string]any{"firstName": "Nobody"}
	case strings.HasSuffix(route, ":cancel"):
		return map[string]any{"reason": "nobody's order", "requestId": "unknown-" + randomID()}
	case strings.HasSuffix(route, ":deposit"), strings.HasSuffix(route, ":withdraw"):
		return map[string]any{"amount": "5", "requestId": "unknown-" + randomID()}
	case strings.HasPrefix(route, "POST"):
		return map[string]any{"price": "5", "requestId": "unknown-" + randomID()}
	}
	return nil
}

// An admin asking about a user that never existed gets 404 on every
// per-user read, the lists included (ListOrders and ListNotifications ask
// billing whether the account exists when the list is empty), and a
// customer gets 404 there too, as for any other user's data.
func TestUnknownUser_EveryPerUserRoute(t *testing.T) {
	adm, other := admin(t), restCustomer(t, "unknown-")
	unknown := newUUID()
	seen := 0
	for _, route := range httpRules(t) {
		method, pattern, _ := strings.Cut(route, " ")
		if !strings.HasPrefix(pattern, "/v1/users/{") {
			continue
		}
		seen++
		want, ok := perUserRoutes[route]
		if !ok {
			t.Errorf("http.yaml has the per-user route %s; add it to perUserRoutes", route)
			continue
		}
		// {id} is the user on the user routes, an order or letter id
		// (as unknown) below a user.
		id := newUUID()
		if strings.HasPrefix(pattern, "/v1/users/{id}") {
			id = unknown
		}
		path := strings.NewReplacer("{user_id}", unknown, "{user.id}", unknown, "{id}", id).Replace(pattern)
		t.Run(route, func(t *testing.T) {
			if a := adm.call(t, method, path, bodyOf(route), nil); a.status != want {
				t.Errorf("admin: %s %s = %s; want %d", method, path, a, want)
			}
			if method == "GET" {
				if a := other.call(t, method, path, nil, nil); a.status != http.StatusNotFound {
					t.Errorf("customer: %s %s = %s; want 404", method, path, a)
				}
			}
		})
	}
	if seen != len(perUserRoutes) {
		t.Errorf("http.yaml has %d per-user routes, the table %d", seen, len(perUserRoutes))
	}
}

// A deleted user's history stays readable by an admin, like its ledger:
// the lists of a deleted user without orders or letters are 200 and
// empty, not 404, because billing keeps the closed account.
func TestDeletedUser_EmptyListsStay200(t *testing.T) {
	adm := admin(t)
	gone := restCustomer(t, "gone-")
	ok(t, "delete", gone.call(t, "DELETE", "/v1/users/"+gone.id, nil, nil))
	base := "/v1/users/" + gone.id
	for _, list := range []struct{ path, member string }{
		{base + "/account/transactions", "transactions"},
		{base + "/orders", "orders"},
		{base + "/notifications", "notifications"},
	} {
		m := ok(t, "admin lists "+list.path, adm.call(t, "GET", list.path, nil, nil))
		if got := listOf(m, list.member); len(got) != 0 {
			t.Errorf("%s: %v, want an empty list", list.path, got)
		}
	}
	expect(t, "the deleted user itself", adm.call(t, "GET", base, nil, nil), http.StatusNotFound, "")
}

// With billing down, whether an unknown user exists cannot be told: the
// empty lists answer 503 with Retry-After, never a wrong 404 or 200, and
// work again once billing is back. A list with orders needs no billing.
func TestUnknownUser_BillingDown_503(t *testing.T) {
	adm := admin(t)
	buyer := restFundedUser(t, 1000)
	ok(t, "order", buyer.call(t, "POST", "/v1/users/"+buyer.id+"/orders", map[string]any{"price": "100", "requestId": "bd-1"}, nil))
	unknown := newUUID()
	if err := sys.stack.Kill("billing"); errors.As(err, new(stack.ErrOneProcess)) {
		t.Skip("billing has no process of its own to kill in the all-in-one mode")
	} else if err != nil {
		t.Fatal(err)
	}
	restarted := false
	restart := func() {
		if !restarted {
			restarted = true
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			if err := sys.stack.Start(ctx, "billing"); err != nil {
				t.Fatalf("restart billing: %v", err)
			}
		}
	}
	t.Cleanup(restart)
	for _, path := range []string{"/v1/users/" + unknown + "/orders", "/v1/users/" + unknown + "/notifications"} {
		a := adm.call(t, "GET", path, nil, nil)
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
			t.Errorf("billing down: GET %s = %s (Retry-After %q); want 503 with Retry-After", path, a, a.header.Get("Retry-After"))
		}
	}
	m := ok(t, "orders of a buyer with billing down", adm.call(t, "GET", "/v1/users/"+buyer.id+"/orders", nil, nil))
	if len(listOf(m, "orders")) != 1 {
		t.Errorf("buyer's orders = %v, want one", m)
	}
	restart()
	for _, path := range []string{"/v1/users/" + unknown + "/orders", "/v1/users/" + unknown + "/notifications"} {
		var a answer
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if a = adm.call(t, "GET", path, nil, nil); a.status == http.StatusNotFound || time.Now().After(end) {
				break
			}
		}
		if a.status != http.StatusNotFound || a.reason() != "USER_NOT_FOUND" {
			t.Errorf("billing back: GET %s = %s; want 404 USER_NOT_FOUND", path, a)
		}
	}
}
